"""Training runs: start one, run it (in a worker or a command), record its progress.

The training itself is ``ml.train.train``; this module only gives it a
database row to report progress into and turns the bundle it writes into an
inactive :class:`ModelVersion` (with its reports in storage). Nobody serves
the new version until someone activates it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from classification import model_registry, reviews
from classification.models import TrainingRun

logger = logging.getLogger(__name__)

LOG_LINES_KEPT = 200
#: ``TrainingRun.data`` value meaning "the reviewed images", exported when the run starts.
REVIEWED_DATA = "reviewed"


class TrainingError(ValueError):
    """Settings or data that cannot be trained on, with a message for people."""


def _errors_of_training():
    from ml.architectures import WeightsUnavailableError
    from ml.datasets import DatasetError
    from ml.s3sync import S3SyncError

    return DatasetError, WeightsUnavailableError, S3SyncError, ValueError


def local_dataset(data: str, progress: Callable[[dict], None] | None = None) -> str:
    """A local folder for ``data``: itself, or the synced cache of an ``s3://`` prefix."""
    from ml import s3sync

    if not s3sync.is_s3_uri(data):
        return data
    client = s3sync.s3_client(endpoint_url=django_settings.AWS_S3_ENDPOINT_URL, region_name=django_settings.AWS_S3_REGION_NAME)
    say = (lambda line: progress({"stage": "syncing", "message": line})) if progress else None
    result = s3sync.sync_prefix(data, django_settings.CLASSIFIER["DATASET_CACHE_DIR"], client=client, progress=say)
    return str(result.directory)


def training_config(data: str, settings: dict[str, Any]):
    """Validate settings into an ``ml.train.TrainConfig`` (output folder filled in later)."""
    from ml.train import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "out"}
    unknown = set(settings) - known
    if unknown:
        raise TrainingError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
    try:
        return TrainConfig(data=str(data), out="", **settings)
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from exc


def create_run(*, data: str, settings: dict[str, Any], user=None) -> TrainingRun:
    """Record a training run after checking its settings; nothing runs yet."""
    config = training_config(data, settings)
    stored = {key: value for key, value in dataclasses.asdict(config).items() if key in settings or key == "arch"}
    return TrainingRun.objects.create(data=str(data), config=stored, created_by=user)


def start_training(*, data: str, settings: dict[str, Any], user=None) -> TrainingRun:
    """Record a run and queue it on the training queue."""
    from classification.tasks import train_model

    run = create_run(data=data, settings=settings, user=user)
    transaction.on_commit(lambda: train_model.delay(run.pk))
    return run


class ProgressRecorder:
    """Receives ``ml.train`` progress events and keeps the run row current."""

    def __init__(self, run: TrainingRun, echo: Callable[[dict], None] | None = None):
        self.run = run
        self.echo = echo

    def __call__(self, event: dict[str, Any]) -> None:
        if self.echo:
            self.echo(event)
        run = self.run
        run.stage = event["stage"]
        if event["stage"] == "epoch":
            run.epoch, run.epochs = event["epoch"], event["epochs"]
            run.eta_seconds = event.get("eta_seconds")
            run.last_metrics = {k: round(float(v), 4) for k, v in event.get("metrics", {}).items()}
            line = f"epoch {run.epoch}/{run.epochs} " + " ".join(f"{k}={v}" for k, v in run.last_metrics.items())
        else:
            line = f"[{event['stage']}] {event.get('message', '')}"
        run.log = "\n".join((run.log.splitlines() + [line])[-LOG_LINES_KEPT:])
        run.save(update_fields=["stage", "epoch", "epochs", "eta_seconds", "last_metrics", "log"])


def check_reviewed_data() -> None:
    if reviews.reviewed().values("reviewed_label").distinct().count() < 2:
        raise TrainingError("Review images of at least two classes before training on reviews.")


def start_training_from_reviewed(*, settings: dict[str, Any], user=None) -> TrainingRun:
    """Queue a run on the reviewed images; it is compared with the active model when done."""
    check_reviewed_data()
    return start_training(data=REVIEWED_DATA, settings=settings, user=user)


def run_training(run_id: int, echo: Callable[[dict], None] | None = None) -> TrainingRun:
    """Train run ``run_id`` and register its bundle; safe to call again for a finished run."""
    from ml.train import train

    run = TrainingRun.objects.get(pk=run_id)
    if run.status == TrainingRun.Status.DONE:
        return run
    run.status, run.started_at, run.error_message = TrainingRun.Status.RUNNING, timezone.now(), ""
    run.save(update_fields=["status", "started_at", "error_message"])
    recorder = ProgressRecorder(run, echo)
    try:
        with tempfile.TemporaryDirectory(prefix="training-") as out:
            holdout = None
            if run.data == REVIEWED_DATA:
                data, holdout = export_reviewed_split(Path(out) / "reviewed", seed=int(run.config.get("seed", 0)))
            else:
                data = local_dataset(run.data, recorder)
            config = training_config(data, run.config)
            config.out = str(Path(out) / "bundle")
            result = train(config, progress=recorder)
            if holdout is not None:
                run.comparison = compare_on_holdout(result.bundle_dir, holdout)
                run.save(update_fields=["comparison"])
            version = model_registry.import_bundle(result.bundle_dir)
    except (TrainingError, *_errors_of_training()) as exc:
        return _finish(run, TrainingRun.Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("Training run %s failed", run_id)
        return _finish(run, TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _finish(run, TrainingRun.Status.DONE, version=version)


def export_reviewed_split(directory: Path, *, holdout_share: float = 0.2, seed: int = 0) -> tuple[str, Path]:
    """Write reviewed images as class folders: ``train/`` to learn from, ``holdout/`` to compare on.

    The hold-out is drawn per class (seeded), so both models are judged on the
    same images, none of which the new model saw.
    """
    by_label: dict[str, list] = {}
    for classification in reviews.reviewed().order_by("pk"):
        by_label.setdefault(classification.reviewed_label, []).append(classification)
    rng = random.Random(seed)
    for label, rows in sorted(by_label.items()):
        rng.shuffle(rows)
        held = max(1, round(len(rows) * holdout_share)) if len(rows) >= 2 else 0
        reviews.write_dataset_folder(directory / "holdout", rows[:held])
        reviews.write_dataset_folder(directory / "train", rows[held:])
    return str(directory / "train"), directory / "holdout"


def compare_on_holdout(bundle_dir: Path, holdout: Path) -> dict[str, Any]:
    """Accuracy of the new bundle and of the active model on the same held-out reviewed images."""
    from ml.evaluate import evaluate_predictor, labelled_files
    from ml.predictor import Predictor

    files, labels = labelled_files(holdout)
    new = evaluate_predictor(Predictor.from_bundle(bundle_dir), files, labels).metrics
    comparison: dict[str, Any] = {"images": len(files), "new": _summary(new)}
    active = model_registry.active_version()
    if active is not None:
        predictor = Predictor.from_files(model_registry.local_model_path(active), model_registry.metadata_of(active))
        known = [(f, label) for f, label in zip(files, labels) if label in predictor.class_names]
        if known:
            metrics = evaluate_predictor(predictor, [f for f, _ in known], [label for _, label in known]).metrics
            comparison["active"] = {"version_id": active.pk, "name": active.name, **_summary(metrics)}
    return comparison


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "count": metrics["count"]}


def _finish(run: TrainingRun, status: str, *, error: str = "", version=None) -> TrainingRun:
    run.status, run.error_message, run.finished_at = status, error, timezone.now()
    run.model_version = version
    run.stage = "done" if status == TrainingRun.Status.DONE else "failed"
    run.save(update_fields=["status", "error_message", "finished_at", "model_version", "stage"])
    return run
