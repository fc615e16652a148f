"""What a worker process holds: the model it serves, loaded once when the process starts.

Celery's prefork parent imports this module (through the tasks) but must never
import TensorFlow: TensorFlow is not fork-safe, and children of a parent that
imported it hang on their first prediction. So nothing here touches TensorFlow
at import time; :func:`load_at_process_start` runs in each child (the tasks
module connects it to ``worker_process_init``), loads the active model and
warms it up. A compiled version (its ONNX export, made once by the registry
task) loads without TensorFlow at all; Keras serves one not compiled yet.

Tasks call :func:`switch_if_needed` before they claim any row, so a switch
happens between tasks; a version that fails to load is recorded on the
version and retried only after a backoff, the previous model serving meanwhile.
An idle process switches too (:func:`_watch_activations`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, connections

from classification.models import ModelVersion, WorkerProcess
from classification.models.workers import heartbeat_seconds
from classification.registry import artifacts, versions
from classification.serving import batching, classify, heartbeats, notifications, orphans
from ml.cores import threads_per_process
from ml.predictor import Predictor, limit_tensorflow_threads
from ml.runtimes import ONNXRUNTIME, ONNXRUNTIME_INT8, TENSORFLOW

logger = logging.getLogger(__name__)

class NoActiveModel(RuntimeError):
    pass


class ModelUnavailable(RuntimeError):
    """The active version could not be loaded and no earlier one is loaded either."""


@dataclass
class LoadedModel:
    """What this process holds, and counters that prove it loaded once."""

    predictor: Predictor | None = None
    version: ModelVersion | None = None
    compiled: str = ""  # the ONNX export's sha256 the predictor runs ("" for Keras, SageMaker)
    load_count: int = 0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    runtime: str = ""
    threads: int | None = None
    pool_size: int | None = None  # the real one, from the worker (see classification.tasks)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serving: tuple | None = None  # (predictor, version), replaced in one assignment: read without the lock

    @property
    def version_id(self) -> int | None:
        return self.version.pk if self.version is not None else None


state = LoadedModel()


def _wants_onnx(version: ModelVersion) -> bool:
    return (settings.CLASSIFIER_INFERENCE_RUNTIME != TENSORFLOW and bool(version.onnx_artifact)
            and not version.onnx_error)


#: int8 graphs (by SHA-256) this process could not load: their float export serves instead, without retrying.
_unloadable_int8: set[str] = set()


def _wants_int8(version: ModelVersion) -> bool:
    """int8 serves under "auto" once the registry accepted it (classification.registry.quantizing)."""
    return (settings.CLASSIFIER_INFERENCE_RUNTIME == "auto" and _wants_onnx(version)
            and version.int8_decision == ModelVersion.Int8Decision.SERVED and bool(version.int8_artifact)
            and version.int8_sha256 not in _unloadable_int8)


def _int8_predictor(version: ModelVersion, metadata) -> Predictor | None:
    try:
        return Predictor.from_onnx(artifacts.local_int8_path(version), metadata, threads=state.threads,
                                   name=ONNXRUNTIME_INT8)
    except Exception:  # a damaged file in storage, say: the float export serves, as it would without int8
        logger.exception("Could not load the int8 graph of %s; serving its float export", version)
        _unloadable_int8.add(version.int8_sha256)
        return None


def _served_sha256(version: ModelVersion) -> str:
    """The SHA-256 of the graph ``version`` should be served with (int8 or float export)."""
    return version.int8_sha256 if _wants_int8(version) else version.onnx_sha256


def _build_predictor(version: ModelVersion) -> Predictor:
    """The compiled ONNX graph (no TensorFlow at all), else Keras; or the SageMaker endpoint.

    Never exports: that is done once per version, at import or activation, by
    the registry task (:mod:`classification.registry.compiling`). A version not
    compiled yet, or whose export failed or differs from Keras, is served by Keras.
    """
    metadata = versions.metadata_of(version)
    if settings.CLASSIFIER_INFERENCE_BACKEND == "sagemaker":
        from ml.sagemaker import EndpointPredictor, sagemaker_client

        client = sagemaker_client(settings.CLASSIFIER_SAGEMAKER_ENDPOINT_URL, settings.CLASSIFIER_SAGEMAKER_REGION)
        return EndpointPredictor(settings.CLASSIFIER_SAGEMAKER_ENDPOINT, metadata, client)
    if _wants_int8(version) and (int8 := _int8_predictor(version, metadata)) is not None:
        logger.info("int8 for %s: %s", version, version.int8_summary())
        return int8
    if _wants_onnx(version):
        return Predictor.from_onnx(artifacts.local_onnx_path(version), metadata, threads=state.threads,
                                   max_difference=version.onnx_max_difference)
    if settings.CLASSIFIER_INFERENCE_RUNTIME == ONNXRUNTIME:
        logger.warning("%s has no trusted ONNX export (%s); serving with TensorFlow", version,
                       version.onnx_error or "not compiled yet")
    limit_tensorflow_threads(state.threads or 1)
    return Predictor.from_files(artifacts.local_model_path(version), metadata, runtime=TENSORFLOW)


def _load(version: ModelVersion) -> None:
    started = time.perf_counter()
    if settings.CLASSIFIER_TEST_MODEL_LOAD_DELAY_SECONDS:  # tests only: a model that loads slowly
        time.sleep(settings.CLASSIFIER_TEST_MODEL_LOAD_DELAY_SECONDS)
    predictor = _build_predictor(version)
    warmup = predictor.warm_up()
    state.predictor, state.version, state.runtime = predictor, version, predictor.runtime_name
    state.serving = (predictor, version)
    state.compiled = {ONNXRUNTIME: version.onnx_sha256, ONNXRUNTIME_INT8: version.int8_sha256}.get(
        predictor.runtime_name, "")
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


#: What :func:`_is_current` reads of a version: which one it is, and which graph it should be served with.
_SERVED_AS_FIELDS = ("pk", "onnx_artifact", "onnx_sha256", "onnx_error", "int8_decision", "int8_artifact", "int8_sha256")


def _is_current(version: ModelVersion) -> bool:
    """Whether this process serves ``version`` as it should be served (its export, once compiled)."""
    if state.predictor is None or state.version_id != version.pk:
        return False
    if settings.CLASSIFIER_INFERENCE_BACKEND == "sagemaker" or not _wants_onnx(version):
        return True
    return state.compiled == _served_sha256(version)


def ensure_loaded() -> tuple[Predictor, ModelVersion]:
    """Return the predictor for the active version and that version, switching if it changed.

    A version that fails to load is recorded as failed on the version and not
    tried again before its backoff ends (:func:`classification.registry.versions.load_retry_due`);
    meanwhile the previous model keeps serving, or, with none, this raises.
    """
    # Every task asks, and nearly always the answer is the version served already: read only the fields
    # _is_current compares, not the whole row, whose metrics and report lists were decoded on every task.
    # Without the lock, so only when what serves is that version: a load the idle watcher has half done
    # (the new version set, the pair that serves not yet) takes the locked way below and waits for it.
    active = versions.active_version(only=_SERVED_AS_FIELDS)
    serving = state.serving
    if active is not None and serving is not None and serving[1].pk == active.pk and _is_current(active):
        return serving
    version = versions.active_version()
    if version is None:
        raise NoActiveModel("No model version is active; run `python manage.py ensure_active_model`.")
    with state.lock:
        if not _is_current(version) and versions.load_retry_due(version):
            try:
                _load(version)
                versions.record_load_success(version)
            except Exception as exc:
                versions.record_load_failure(version, exc)
                if state.predictor is None:
                    raise
                # A broken new model must not stop the service: keep serving the previous one.
                logger.exception("Could not load %s; still serving version #%s", version, state.version_id)
        if state.predictor is None:
            raise ModelUnavailable(f"{version} failed to load ({version.load_error}); retrying later.")
        return state.predictor, state.version


def switch_if_needed() -> None:
    """Between tasks, before any row is claimed: load the active version if it changed. Never raises."""
    try:
        ensure_loaded()
    except Exception as exc:
        logger.warning("No model to serve: %s", exc)


def current() -> tuple[Predictor, ModelVersion]:
    """What this process serves now, loading nothing (a task's rows are claimed: no switch now).

    Without the lock: a load the idle watcher started meanwhile must not hold up rows already claimed.
    """
    serving = state.serving
    if serving is None:
        raise ModelUnavailable("This worker has no model loaded; see its log and the model version's load error.")
    return serving


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
    """Cap threads, fill the connection pool, beat, re-queue what dead processes here held, load
    and warm the active model, warm the task's path, and watch for activations while idle."""
    state.threads = threads_per_process(state.pool_size or settings.CELERY_WORKER_CONCURRENCY)
    _fill_connection_pool()
    heartbeats.start_heartbeat(WorkerProcess.Role.CLASSIFY)
    try:
        orphans.requeue_rows_of_dead_processes_here()
    except Exception:
        logger.warning("Could not re-queue the rows of dead processes; the sweeper will", exc_info=True)
    try:
        ensure_loaded()
        _warm_up_task_path()
    except (NoActiveModel, ModelUnavailable) as exc:
        logger.error("%s Tasks will fail until one is.", exc)
    finally:
        # Back to the pool (closed, without one): each task checks out its own.
        connections.close_all()
    _watching.clear()
    threading.Thread(target=_watch_activations, name="model-watcher", daemon=True).start()


def stop_at_process_end() -> None:
    """Stop watching for activations and beating (the worker stops this process cleanly)."""
    _watching.set()
    heartbeats.stop_heartbeat()


_watching = threading.Event()  # set: stop watching


def _watch_activations() -> None:
    """Switch an idle process too, so readiness sees the new model served without waiting for a task.

    Takes the same lock as a task's switch: a task arriving meanwhile waits
    for the load before it claims any row.
    """
    while not _watching.wait(heartbeat_seconds()):
        switch_if_needed()
        connection.close()  # this thread's own connection, back to the pool


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
