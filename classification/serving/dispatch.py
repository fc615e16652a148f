"""Handing stored classifications to the workers, or failing them when the queue is down.

Used when an image is accepted (:mod:`classification.intake.submission`) and
when the sweeper queues stranded work again (:mod:`classification.serving.recovery`).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from classification import queueing
from classification.models import Classification
from classification.serving.notifications import notify_finished

logger = logging.getLogger(__name__)


def enqueue(classification_id: int) -> None:
    """Queue a stored classification; when the queue is down, fail it with a message saying so."""
    try:
        queueing.classify(classification_id)
    except Exception:
        logger.exception("Could not queue classification %s", classification_id)
        failed = Classification.objects.filter(pk=classification_id, status=Classification.Status.QUEUED).update(
            status=Classification.Status.FAILED,
            error_message="The classification queue is unavailable; please upload again.",
            finished_at=timezone.now(),
        )
        if failed:
            notify_finished(Classification.objects.get(pk=classification_id))
