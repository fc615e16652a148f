"""Celery tasks: thin wrappers that hand row ids to the services.

``acks_late`` with ``reject_on_worker_lost``: a worker that dies mid-task
leaves the message on the queue for another worker, and the service is
idempotent, so a redelivered classification is finished, not duplicated.

``classify_image`` also classifies the images queued behind it, in the same
model call (a micro-batch); their messages are acknowledged only after their
rows are saved, so they keep the same guarantee (see ``worker.queued_companions``).
"""

from celery import shared_task

from classification import services, worker


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def classify_image(classification_id: int) -> None:
    with worker.queued_companions() as companions:
        services.classify_stored_images([classification_id, *companions], load_model=worker.ensure_loaded)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def train_model(training_run_id: int) -> None:
    """Runs on the ``training`` queue (see CELERY_TASK_ROUTES), never beside classifications."""
    from classification import training

    training.run_training(training_run_id)


@shared_task(ignore_result=True)
def requeue_stuck() -> dict:
    """Run by beat every minute: queue again what a lost message or a dead worker left behind."""
    from classification import recovery

    return recovery.requeue_stuck()
