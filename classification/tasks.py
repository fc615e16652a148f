"""Celery tasks: thin wrappers that hand row ids to the services.

``acks_late`` with ``reject_on_worker_lost``: a worker that dies mid-task
leaves the message on the queue for another worker, and the service is
idempotent, so a redelivered classification is finished, not duplicated.
"""

from celery import shared_task

from classification import services, worker


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def classify_image(classification_id: int) -> None:
    services.classify_stored_image(classification_id, load_model=worker.ensure_loaded)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def train_model(training_run_id: int) -> None:
    """Runs on the ``training`` queue (see CELERY_TASK_ROUTES), never beside classifications."""
    from classification import training

    training.run_training(training_run_id)
