"""Shared fixtures: real services, tiny models, generated images, the shared data."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

REPO_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("SHARED_DIR", REPO_DIR.parent / "shared"))
SAMPLES_DIR = SHARED_DIR / "samples"
CLASSES = ["human", "no_human", "uber_eats"]


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def labelled_samples() -> list[tuple[Path, str]]:
    """The 16 reference photos and their labels; skips when ../shared is absent."""
    labels = SAMPLES_DIR / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"the shared sample photos are not at {SAMPLES_DIR} (set SHARED_DIR)")
    with open(labels, newline="") as fh:
        return [(SAMPLES_DIR / row["file"], row["label"]) for row in csv.DictReader(fh)]


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A 3-class model over 32×32 inputs: loads and predicts in milliseconds."""
    import keras

    from ml.bundle import BundleMetadata, save_bundle

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASSES), activation="softmax"),
        ]
    )
    metadata = BundleMetadata(
        name="tiny-test-model",
        architecture="tiny_cnn",
        class_names=CLASSES,
        input_size=32,
        preprocessing="rescale",
        metrics={"samples_accuracy": 0.5},
        description="Random weights, for tests only.",
    )
    return save_bundle(model, metadata, tmp_path_factory.mktemp("tiny-bundle"))


@pytest.fixture
def active_tiny_model(db, tiny_bundle):
    from classification.registry import versions

    return versions.import_bundle(tiny_bundle, activate_now=True)


@pytest.fixture(scope="session")
def tiny_predictor(tiny_bundle):
    from ml.predictor import Predictor

    return Predictor.from_bundle(tiny_bundle)


@pytest.fixture
def classify_now(active_tiny_model, tiny_predictor):
    """Classify rows as the worker does (result and thumbnail), in this process, with the tiny model."""
    from classification.serving.classify import classify_stored_images

    def classify(*rows):
        return classify_stored_images([row.pk for row in rows], load_model=lambda: (tiny_predictor, active_tiny_model))

    return classify


def _off_any_event_loop(call):
    """Run ``call`` in a thread of its own when this one runs an event loop, else here.

    Playwright's sync API keeps an event loop running in the test's thread, and
    Django refuses database work in such a thread; a solo worker's start-up
    signal (``worker_process_init``) loads the active model from the database
    in the thread that builds the worker.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    from django.db import connections

    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="worker-start")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def solo_worker(**options):
    """A real Celery worker (solo pool, in this process) on the real Redis broker.

    Started after the test's model is active, it loads it in
    ``worker_process_init`` like a deployed worker. Celery's Django fix-up
    closes the database sockets it finds when a worker process starts (in a
    prefork child they are the parent's); here that process is the test's own,
    so its connections are closed properly first.
    """
    from celery.contrib.testing.worker import start_worker
    from django.db import connections

    from classifier_site.celery import app

    connections.close_all()
    try:
        manager = start_worker(app, pool="solo", perform_ping_check=False, **options)
        worker = _off_any_event_loop(manager.__enter__)
        try:
            yield worker
        except BaseException as exc:
            if not manager.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            manager.__exit__(None, None, None)
    finally:
        from classification.serving import process_model

        # Celery's test worker sends no shutdown signal: stop this process's heartbeat and model watcher,
        # or they would go on reporting a classify worker that is gone to the tests that follow.
        process_model.stop_at_process_end()


@pytest.fixture
def celery_worker(transactional_db):
    from classifier_site.celery import app

    app.control.purge()
    with solo_worker(shutdown_timeout=30) as worker:
        yield worker


def wait_until_finished(ids, timeout: float = 60.0):
    """Poll the database until every classification is done or failed.

    ``ids`` are the public ids that payloads carry, or the internal ``pk``s (all ints).
    """
    from classification.models import Classification

    field = "pk" if all(isinstance(pk, int) for pk in ids) else "public_id"
    ids = [pk if field == "pk" else str(pk) for pk in ids]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Classification.objects.filter(**{f"{field}__in": ids}))
        if len(rows) == len(ids) and all(row.is_finished for row in rows):
            key = (lambda row: row.pk) if field == "pk" else (lambda row: str(row.public_id))
            return sorted(rows, key=lambda row: ids.index(key(row)))
        time.sleep(0.1)
    states = dict(Classification.objects.filter(**{f"{field}__in": ids}).values_list(field, "status"))
    raise AssertionError(f"classifications did not finish within {timeout} s: {states}")


def stored_files(root: Path | None = None) -> set[str]:
    """Every file under MEDIA_ROOT, relative to it."""
    from django.conf import settings

    root = Path(root or settings.MEDIA_ROOT)
    if not root.exists():
        return set()
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def self_signed_certificate(directory: Path) -> dict[str, str]:
    """A throwaway key and certificate for 127.0.0.1, as the run script's TLS variables."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return {"TLS_KEY_FILE": str(key), "TLS_CERT_FILE": str(cert)}


def child_process_env() -> dict[str, str]:
    """Environment for a process the tests start (worker, web process) that must share this test's database and files."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "classifier_site.test_settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "VAR_DIR": str(settings.VAR_DIR),
    }
