"""Celery's side of the house: thin tasks, and the worker-process signals they rely on.

Tasks hand row ids to the services and nothing else. ``acks_late`` with
``reject_on_worker_lost``: a worker that dies mid-task leaves the message on
the queue for another worker, and the services are idempotent, so a
redelivered classification is finished, not duplicated. ``classify_image``
also classifies the images queued behind it in the same model call (a
micro-batch, :mod:`classification.serving.batching`); their messages are
acknowledged only after their rows are saved, so they keep the same guarantee.

Task names come from :mod:`classification.queueing`, the only other module
that knows Celery; nothing else imports this one (the worker finds it).
"""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown
from django.conf import settings

from classification import queueing
from classification.alerts import delivery
from classification.events import recording
from classification.privacy import retention
from classification.registry import compiling
from classification.models import WorkerProcess
from classification.serving import batching, classify, heartbeats, process_model, recovery
from classification.training import execution, runs
from ml.cores import threads_per_process
from ml.predictor import limit_tensorflow_threads


@shared_task(name=queueing.CLASSIFY_IMAGE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def classify_image(classification_id: int) -> None:
    # A model switch happens here, between tasks: before any companion is taken or any row claimed.
    process_model.switch_if_needed()
    with batching.queued_companions() as companions:
        rows = classify.classify_stored_images([classification_id, *companions], load_model=process_model.current)
        # Frames of cameras and webcams join their events (and may fire alerts) before any message is
        # acknowledged: a worker lost here has its batch delivered again, and recording is idempotent.
        recording.record_results(rows)


@shared_task(
    name=queueing.TRAIN_MODEL, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
    soft_time_limit=settings.CLASSIFIER["TRAINING_MAX_SECONDS"], time_limit=settings.CLASSIFIER["TRAINING_MAX_SECONDS"] + 300,
)
def train_model(training_run_id: int) -> None:
    """Runs on the training queue, never beside classifications; ends (failed) past TRAINING_MAX_SECONDS,
    below the broker's visibility timeout, so its message is never handed out twice."""
    execution.run_training(training_run_id, time_up=(SoftTimeLimitExceeded,))


@shared_task(name=queueing.COMPILE_MODEL, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def compile_model_version(version_id: int) -> None:
    """Runs on the training (registry) queue: a version's ONNX export and check, once, never in a serving process."""
    compiling.compile_version(version_id)


@shared_task(name=queueing.REQUEUE_STUCK, ignore_result=True)
def requeue_stuck() -> dict:
    """Run by beat every SWEEP_INTERVAL_SECONDS on the sweeper's queue: queue again what a lost message
    or a dead worker left behind; mark training runs whose process died as interrupted."""
    return {**recovery.requeue_stuck(), "interrupted_runs": runs.interrupt_abandoned()}


@shared_task(name=queueing.DELETE_EXPIRED, ignore_result=True)
def delete_expired() -> dict:
    """Run by beat every hour: delete unreviewed images older than their retention, files included."""
    return retention.delete_expired()


@shared_task(name=queueing.DELIVER_ALERT, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_alert(self, delivery_id: int) -> None:
    """One attempt; the service logs it and says when to try again (doubling), or that the delivery is finished."""
    retry_in = delivery.deliver(delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, max_retries=None)


@worker_init.connect
def _connect_process_start_after_celerys_django_cleanup(sender=None, **_kwargs) -> None:
    """Connect the model load behind Celery's own Django fix-up.

    The fix-up connects its ``worker_process_init`` receiver when ``worker_init``
    is sent (its own ``worker_init`` receiver runs before this one, connected
    when the app was made); in each new process it closes the database
    connections and the connection pool, assuming the parent opened them. Run
    before it, the load's warm-up would lose its pooled connection and the
    first task would open a new one, cold. The solo pool sends
    ``worker_process_init`` too.
    """
    worker_process_init.connect(_start_process, weak=False, dispatch_uid=f"{__name__}.start_process")
    _worker["controller"] = sender  # children inherit it: the real pool size, read once the pool exists


_worker: dict = {}


def _pool_size() -> int | None:
    """The worker's real pool size (the command line's --concurrency or autoscale maximum, not the setting)."""
    controller = _worker.get("controller")
    size = getattr(controller, "max_concurrency", None) or getattr(controller, "concurrency", None)
    return size if isinstance(size, int) and size > 0 else None


def _start_process(**_kwargs) -> None:
    process_model.state.pool_size = _pool_size()
    if queueing.this_worker_classifies():  # a training worker needs no model
        process_model.load_at_process_start()
    elif queueing.this_worker_trains():
        # Training and compiling run TensorFlow here: capped like the serving processes, by the real pool size.
        limit_tensorflow_threads(threads_per_process(process_model.state.pool_size or 1))
        heartbeats.start_heartbeat(WorkerProcess.Role.TRAINING)
    elif queueing.this_worker_sweeps():
        heartbeats.start_heartbeat(WorkerProcess.Role.SWEEPER)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stop_process(**_kwargs) -> None:
    """A pool process (or a solo worker's only process) that ends cleanly stops beating and leaves no row."""
    if queueing.this_worker_classifies():
        process_model.stop_at_process_end()
    else:
        heartbeats.stop_heartbeat()
