"""Rows a dead process of this machine held: queued again as soon as a new process starts.

A pool process killed mid-batch leaves its rows ``running`` under its id,
companions included, and their messages unacknowledged in the broker, which
hands them out again only after its visibility timeout (an hour by default).
The process that replaces it knows at once that the old one is dead (its pid
is gone from this machine's process table), so at start-up it puts those rows
back in the queue rather than leave them to the sweeper. Each such re-queue
counts as an attempt, as the sweeper's do: an image that kills every process
that reads it is failed after ``CLASSIFIER["MAX_ATTEMPTS"]``, not retried for ever.
"""

from __future__ import annotations

import logging
import socket

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from classification import queueing
from classification.models import Classification, WorkerProcess
from classification.serving.notifications import notify_finished

logger = logging.getLogger(__name__)


def requeue_rows_of_dead_processes_here() -> dict[str, int]:
    """Queue again (or fail, past their attempts) the running rows of this host's dead processes."""
    running = Classification.objects.filter(status=Classification.Status.RUNNING)
    holders = set(running.filter(worker__startswith=f"{socket.gethostname()}:").values_list("worker", flat=True))
    dead = [holder for holder in holders if not WorkerProcess.objects.is_alive(holder)]
    if not dead:
        return {"requeued": 0, "failed": 0}
    now, limit = timezone.now(), settings.CLASSIFIER["MAX_ATTEMPTS"]
    orphans = running.filter(worker__in=dead)
    # Conditional on the same claim, so a row another process took over meanwhile is left alone.
    failed_ids = list(orphans.filter(attempts__gte=limit).values_list("pk", flat=True))
    failed = Classification.objects.filter(pk__in=failed_ids, status=Classification.Status.RUNNING,
                                           worker__in=dead).update(
        status=Classification.Status.FAILED, finished_at=now,
        error_message=f"Gave up after {limit} attempts: the process classifying it died each time.",
    )
    for row in Classification.objects.filter(pk__in=failed_ids, status=Classification.Status.FAILED):
        notify_finished(row)
    requeued = 0
    for pk in orphans.values_list("pk", flat=True):
        if Classification.objects.filter(pk=pk, status=Classification.Status.RUNNING, worker__in=dead).update(
            status=Classification.Status.QUEUED, worker="", requeued_at=now, attempts=F("attempts") + 1
        ):
            requeued += 1
            try:
                queueing.classify(pk)
            except Exception:  # the row stays queued: the sweeper finds it once the broker is back
                logger.warning("Could not queue classification %s again", pk, exc_info=True)
    logger.warning("Re-queued %d classification(s) and failed %d that dead process(es) %s held",
                   requeued, failed, ", ".join(sorted(dead)))
    return {"requeued": requeued, "failed": failed}
