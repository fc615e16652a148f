"""What a worker process holds: the model it serves, loaded once when the process starts.

Celery's prefork parent imports this module (through the tasks) but must never
import TensorFlow: TensorFlow is not fork-safe, and children of a parent that
imported it hang on their first prediction. So nothing here touches TensorFlow
at import time; :func:`load_at_process_start` runs in each child (the tasks
module connects it to ``worker_process_init``), caps TensorFlow's threads,
loads the active model and warms it up.

Tasks call :func:`ensure_loaded`, which only re-loads when someone
activated another version since the last task: a switch, never a first load.
Loading picks the runtime (ONNX Runtime when its export matches Keras on the
validation images, else TensorFlow; see :mod:`ml.runtime_choice`), logs it and
records it in this process's ``WorkerProcess`` row.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections

from classification.models import ModelVersion, WorkerProcess
from classification.registry import artifacts, versions
from classification.serving import batching, classify, heartbeats, notifications
from ml.predictor import Predictor, limit_tensorflow_threads, threads_per_process

logger = logging.getLogger(__name__)

class NoActiveModel(RuntimeError):
    pass


@dataclass
class LoadedModel:
    """What this process holds, and counters that prove it loaded once."""

    predictor: Predictor | None = None
    version: ModelVersion | None = None
    load_count: int = 0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    runtime: str = ""
    threads: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version_id(self) -> int | None:
        return self.version.pk if self.version is not None else None


state = LoadedModel()


def _build_predictor(version: ModelVersion) -> Predictor:
    """The local model (fastest matching runtime), or the SageMaker endpoint when that backend is chosen."""
    metadata = versions.metadata_of(version)
    if settings.CLASSIFIER_INFERENCE_BACKEND == "sagemaker":
        from ml.sagemaker import EndpointPredictor, sagemaker_client

        client = sagemaker_client(settings.CLASSIFIER_SAGEMAKER_ENDPOINT_URL, settings.CLASSIFIER_SAGEMAKER_REGION)
        return EndpointPredictor(settings.CLASSIFIER_SAGEMAKER_ENDPOINT, metadata, client)
    model_path = artifacts.local_model_path(version)
    return Predictor.from_files(
        model_path,
        metadata,
        runtime=settings.CLASSIFIER_INFERENCE_RUNTIME,
        export_dir=model_path.parent,  # the per-artifact cache: the export is made once per machine
        threads=state.threads,
    )


def _load(version: ModelVersion) -> None:
    started = time.perf_counter()
    predictor = _build_predictor(version)
    warmup = predictor.warm_up()
    state.predictor, state.version, state.runtime = predictor, version, predictor.runtime_name
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
    logger.info("Serving model %s with %s (%s)", version, state.runtime, predictor.selection.summary())
    report_status()


def ensure_loaded() -> tuple[Predictor, ModelVersion]:
    """Return the predictor for the active version and that version, switching if it changed."""
    version = versions.active_version()
    if version is None:
        raise NoActiveModel("No model version is active; run `python manage.py ensure_active_model`.")
    with state.lock:
        if state.predictor is None or state.version_id != version.pk:
            try:
                _load(version)
            except Exception:
                if state.predictor is None:
                    raise
                # A broken new model must not stop the service: keep serving the previous one.
                logger.exception("Could not load %s; still serving version #%s", version, state.version_id)
        return state.predictor, state.version


def report_status() -> None:
    """Record which model this process serves, now and in every heartbeat (readiness, admin, tests)."""
    heartbeats.report(
        model_version_id=state.version_id,
        load_count=state.load_count,
        load_seconds=state.load_seconds,
        warmup_seconds=state.warmup_seconds,
        runtime=state.runtime,
        threads=state.threads or 0,
    )


def load_at_process_start() -> None:
    """Cap threads, fill the connection pool, load and warm the active model, warm the task's path."""
    state.threads = threads_per_process(settings.CELERY_WORKER_CONCURRENCY)
    limit_tensorflow_threads(state.threads)
    _fill_connection_pool()
    heartbeats.start_heartbeat(WorkerProcess.Role.CLASSIFY)
    try:
        ensure_loaded()
        _warm_up_task_path()
    except NoActiveModel as exc:
        logger.error("%s Tasks will fail until one is.", exc)
    finally:
        # Back to the pool (closed, without one): each task checks out its own.
        connections.close_all()


def _fill_connection_pool() -> None:
    """Open this process's PostgreSQL connection pool (when on) and wait for its first connection.

    Asked for a connection while it is still opening its first, the pool opens
    a second; the start-up would warm one and the first task might get the
    other, whose caches nothing filled.
    """
    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        return
    try:
        pool.open()
        pool.wait(timeout=10)
    except Exception:
        logger.warning("The database connection pool did not fill yet", exc_info=True)


def _warm_up_task_path() -> None:
    """Do what the first task would otherwise do first: open the broker connection it takes
    companions on, run its database queries, open the push loop's Redis connection. The first
    image is then as fast as the rest (README, Performance: first request after a worker start)."""
    batching.warm_up()
    try:
        classify.warm_up_classification_queries()
    except Exception:
        logger.warning("Could not reach the database yet; the first classification will", exc_info=True)
    notifications.warm_up()
