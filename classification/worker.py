"""The model a worker process serves, loaded once when the process starts.

Celery's prefork parent imports this module (through the tasks) but must never
import TensorFlow: TensorFlow is not fork-safe, and children of a parent that
imported it hang on their first prediction. So nothing here touches TensorFlow
at import time; :func:`load_at_process_start` runs in each child through
``worker_process_init`` (the solo pool sends it too), caps TensorFlow's threads,
loads the active model and warms it up.

Tasks call :func:`ensure_loaded`, which only re-loads when someone
activated another version since the last task: a switch, never a first load.
Loading picks the runtime (ONNX Runtime when its export matches Keras on the
validation images, else TensorFlow; see :mod:`ml.runtimes`), logs it and
records it in this process's ``WorkerProcess`` row.

Micro-batching lives here too, because it is about this process's broker
connection: a task takes the classifications still waiting in the queue
(:func:`take_queued`) and classifies them with its own in one model call. It
never waits for more, so a lone image is answered at once, and it acknowledges
the messages it took only once their rows are saved, as ``acks_late`` does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_init, worker_process_init
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
    version: ModelVersion | None = None
    load_count: int = 0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    runtime: str = ""
    threads: int | None = None
    broker: Any = None  # this process's own broker connection, for take_queued
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version_id(self) -> int | None:
        return self.version.pk if self.version is not None else None


state = LoadedModel()


def _build_predictor(version: ModelVersion) -> Predictor:
    """The local model (fastest matching runtime), or the SageMaker endpoint when that backend is chosen."""
    metadata = model_registry.metadata_of(version)
    if settings.CLASSIFIER_INFERENCE_BACKEND == "sagemaker":
        from ml.sagemaker import EndpointPredictor, sagemaker_client

        client = sagemaker_client(settings.CLASSIFIER_SAGEMAKER_ENDPOINT_URL, settings.CLASSIFIER_SAGEMAKER_REGION)
        return EndpointPredictor(settings.CLASSIFIER_SAGEMAKER_ENDPOINT, metadata, client)
    model_path = model_registry.local_model_path(version)
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
    version = model_registry.active_version()
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
                "runtime": state.runtime,
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


@worker_init.connect
def _load_in_each_process_after_celerys_django_cleanup(**_kwargs) -> None:
    """Connect :func:`load_at_process_start` behind Celery's own Django fix-up.

    The fix-up connects its ``worker_process_init`` receiver when ``worker_init``
    is sent (its own ``worker_init`` receiver runs before this one, connected
    when the app was made); in each new process it closes the database
    connections and the connection pool, assuming the parent opened them. Run
    before it, the load's warm-up would lose its pooled connection and the
    first task would open a new one, cold.
    """
    worker_process_init.connect(load_at_process_start, weak=False, dispatch_uid=f"{__name__}.load_at_process_start")


def load_at_process_start(**_kwargs) -> None:
    if not _serves_classifications():
        return
    state.threads = threads_per_process(settings.CELERY_WORKER_CONCURRENCY)
    limit_tensorflow_threads(state.threads)
    _fill_connection_pool()
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
    from classification import notifications, services

    # Through take_queued itself, whose first call sets up more than the connection; anything it
    # took goes straight back (the parent hands out queued tasks as soon as this child is ready).
    _settle(take_queued(1), "requeue")
    try:
        services.warm_up_classification_queries()
    except Exception:
        logger.warning("Could not reach the database yet; the first classification will", exc_info=True)
    notifications.warm_up()


@dataclass
class QueuedTask:
    """A classification taken from the queue; its message is acknowledged once the row is saved."""

    classification_id: int
    message: Any


def take_queued(limit: int) -> list[QueuedTask]:
    """Take up to ``limit`` classify tasks waiting in this worker's queue, unacknowledged.

    The caller classifies them with its own task and then acknowledges them
    (:func:`queued_companions` does both). A process that dies meanwhile has
    acknowledged nothing, so the broker delivers them again, as it would the
    tasks themselves (``acks_late``); the service skips rows already done.
    Waiting for more is off by default (``CLASSIFIER_BATCH_MAX_WAIT_MS``):
    batches form from what queued up while the previous one ran, so a lone
    image never waits for company. Only plain ``classify_image(id)`` messages
    are taken; anything else (an ETA, another task) goes back and stops the
    take. Any broker error just ends the batch: batching is an optimisation.
    """
    if limit <= 0:
        return []
    deadline = time.monotonic() + settings.CLASSIFIER_BATCH_MAX_WAIT_MS / 1000
    taken: list[QueuedTask] = []
    try:
        queue = _queue()
        while len(taken) < limit:
            message = queue.get(no_ack=False, accept=["json"])
            if message is None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.002)
                continue
            classification_id = _classification_id(message)
            if classification_id is None:
                message.requeue()
                break
            taken.append(QueuedTask(classification_id, message))
    except Exception:
        logger.warning("Could not take queued classifications; classifying this one alone", exc_info=True)
        _drop_broker()
    return taken


@contextmanager
def queued_companions():
    """The ids of classifications queued behind the running task, to classify with it.

    At most ``CLASSIFIER_BATCH_MAX_SIZE - 1`` of them. Their messages are
    acknowledged when the block ends normally, and go back to the queue when
    it raises, so each is classified by one batch or by its own task.
    """
    taken = take_queued(settings.CLASSIFIER_BATCH_MAX_SIZE - 1)
    try:
        yield [task.classification_id for task in taken]
    except BaseException:
        _settle(taken, "requeue")
        raise
    _settle(taken, "ack")


def _settle(tasks: list[QueuedTask], action: str) -> None:
    for task in tasks:
        try:
            getattr(task.message, action)()
        except Exception:
            # Unacknowledged, the broker redelivers it later; the service skips it if done.
            logger.warning("Could not %s the message of classification %s", action, task.classification_id, exc_info=True)
            _drop_broker()


def _queue():
    """This worker's classify queue on this process's own connection (made after the fork)."""
    from classifier_site.celery import app

    if state.broker is None:
        # One retry, not the default of retrying forever: a broker that is gone ends the batch, not the task.
        state.broker = app.connection_for_read(transport_options={"max_retries": 1})
    return app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE](state.broker.default_channel)


def _drop_broker() -> None:
    broker, state.broker = state.broker, None
    if broker is not None:
        try:
            broker.release()
        except Exception:
            pass


def _classification_id(message) -> int | None:
    """The id of a plain ``classify_image(id)`` message (Celery protocol 2), else None."""
    from classification.tasks import classify_image

    headers = message.headers or {}
    if headers.get("task") != classify_image.name or headers.get("eta") or headers.get("countdown"):
        return None
    try:
        args, kwargs, _embed = message.decode()
        [classification_id] = [*args, *kwargs.values()]
        return int(classification_id)
    except (AttributeError, TypeError, ValueError):
        return None
