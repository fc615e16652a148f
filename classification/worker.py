"""The model a worker process serves, loaded once when the process starts.

Celery's prefork parent imports this module (through the tasks) but must never
import TensorFlow: TensorFlow is not fork-safe, and children of a parent that
imported it hang on their first prediction. So nothing here touches TensorFlow
at import time; :func:`load_at_process_start` runs in each child through
``worker_process_init`` (the solo pool sends it too), caps TensorFlow's threads,
loads the active model and warms it up.

Tasks call :func:`ensure_loaded`, which only re-loads when someone
activated another version since the last task: a switch, never a first load.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from celery.signals import worker_process_init
from django.conf import settings
from django.db import connections
from django.utils import timezone

from classification import model_registry
from classification.models import ModelVersion, WorkerProcess
from ml.predictor import Predictor, limit_tensorflow_threads, threads_per_process

logger = logging.getLogger(__name__)

class NoActiveModel(RuntimeError):
    pass


@dataclass
class LoadedModel:
    """What this process holds, and counters that prove it loaded once."""

    predictor: Predictor | None = None
    version_id: int | None = None
    load_count: int = 0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


state = LoadedModel()


def _load(version: ModelVersion) -> None:
    started = time.perf_counter()
    predictor = Predictor.from_files(model_registry.local_model_path(version), model_registry.metadata_of(version))
    warmup = predictor.warm_up()
    state.predictor, state.version_id = predictor, version.pk
    state.load_count += 1
    state.load_seconds = time.perf_counter() - started
    state.warmup_seconds = warmup
    logger.info(
        "Loaded model %s in %.2f s (warm-up inference %.3f s); loads in this process: %d",
        version,
        state.load_seconds,
        warmup,
        state.load_count,
    )
    report_status()


def ensure_loaded() -> tuple[Predictor, int]:
    """Return the predictor for the active version and its id, switching if it changed."""
    version = model_registry.active_version()
    if version is None:
        raise NoActiveModel("No model version is active; run `python manage.py ensure_active_model`.")
    with state.lock:
        if state.predictor is None or state.version_id != version.pk:
            _load(version)
        return state.predictor, state.version_id


def report_status() -> None:
    """Record which model this process serves (readiness checks, admin, tests)."""
    try:
        WorkerProcess.objects.update_or_create(
            hostname=socket.gethostname(),
            pid=os.getpid(),
            defaults={
                "model_version_id": state.version_id,
                "load_count": state.load_count,
                "load_seconds": state.load_seconds,
                "warmup_seconds": state.warmup_seconds,
                "last_seen": timezone.now(),
            },
        )
    except Exception:  # a status row must never stop a worker from classifying
        logger.warning("Could not record the worker status", exc_info=True)


def _serves_classifications() -> bool:
    """False for a worker started only for other queues (training): it needs no model."""
    from classifier_site.celery import app

    consumed = app.amqp.queues.consume_from
    return not consumed or settings.CELERY_TASK_DEFAULT_QUEUE in consumed


@worker_process_init.connect
def load_at_process_start(**_kwargs) -> None:
    if not _serves_classifications():
        return
    processes = settings.CELERY_WORKER_CONCURRENCY
    limit_tensorflow_threads(threads_per_process(processes))
    try:
        ensure_loaded()
    except NoActiveModel as exc:
        logger.error("%s Tasks will fail until one is.", exc)
    finally:
        # Tasks open their own connections; one left from start-up would idle forever.
        connections.close_all()
