"""Recovering work that got stuck: the periodic sweeper.

A classification can be stranded queued (its message was lost with a Redis
that restarted without persistence) or running (its worker died in a way the
broker did not notice). The sweeper, run every minute by Celery beat, queues
such rows again; the task is idempotent, so a row that was in fact still in
the queue is simply classified once. A row that keeps getting stuck is failed
after a few attempts instead of looping for ever.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from classification.models import Classification
from classification.serving.dispatch import enqueue
from classification.serving.notifications import notify_finished

logger = logging.getLogger(__name__)


def stuck_classifications(now=None):
    """Rows queued or running for longer than the configured timeout."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.CLASSIFIER["STUCK_AFTER_SECONDS"])
    return Classification.objects.filter(
        Q(status=Classification.Status.QUEUED, created_at__lt=limit, requeued_at__isnull=True)
        | Q(status=Classification.Status.QUEUED, requeued_at__lt=limit)
        | Q(status=Classification.Status.RUNNING, started_at__lt=limit)
    )


def requeue_stuck(now=None) -> dict[str, int]:
    """Queue stuck rows again, or fail those that used up their attempts. Returns counts."""
    now = now or timezone.now()
    max_attempts = settings.CLASSIFIER["MAX_ATTEMPTS"]
    requeued = failed = 0
    for classification in stuck_classifications(now):
        if classification.attempts >= max_attempts:
            Classification.objects.filter(pk=classification.pk).update(
                status=Classification.Status.FAILED,
                error_message=f"Gave up after {classification.attempts} attempts; the image may be unprocessable.",
                finished_at=now,
            )
            notify_finished(Classification.objects.get(pk=classification.pk))
            failed += 1
            continue
        Classification.objects.filter(pk=classification.pk).update(
            status=Classification.Status.QUEUED, requeued_at=now, attempts=F("attempts") + 1
        )
        enqueue(classification.pk)
        requeued += 1
    if requeued or failed:
        logger.warning("Sweeper re-queued %d stuck classification(s) and failed %d", requeued, failed)
    return {"requeued": requeued, "failed": failed}
