"""Rows a dead process of this machine held: queued again as soon as a new process starts.

A pool process killed mid-batch leaves its rows ``running`` under its id,
companions included, and their messages unacknowledged in the broker, which
hands them out again only after its visibility timeout (an hour by default).
The process that replaces it knows at once that the old one is dead (its pid
is gone from this machine's process table), so at start-up it puts those rows
back in the queue rather than leave them to the sweeper. Each such re-queue
counts as an attempt, as the sweeper's do: an image that kills every process
that reads it is failed after ``CLASSIFIER["MAX_ATTEMPTS"]``, not retried for ever.

A process can also die after taking its companions' messages and before
claiming their rows: those rows are still ``queued`` and their messages sit
unacknowledged in Redis for the same hour, where the sweeper cannot tell them
from messages a live process holds. Whoever forgets a dead classify process of
this machine (its neighbours' heartbeat, or its replacement's first one) sends
them again at once: :func:`resend_what_dead_processes_may_have_taken`.
"""

from __future__ import annotations

import logging
import socket
from typing import Sequence

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from classification import queueing
from classification.models import Classification, WorkerProcess
from classification.serving.notifications import notify_finished

logger = logging.getLogger(__name__)


def requeue_rows_of_dead_processes_here() -> dict[str, int]:
    """Queue again (or fail, past their attempts) the running rows of this host's dead processes."""
    running = Classification.objects.filter(status=Classification.Status.RUNNING)
    # A claim is void when its process is gone, or when the process now bearing its id started after it
    # (this very process, say, in a restarted container that numbered its processes from 1 again).
    claims = set(running.filter(worker__startswith=f"{socket.gethostname()}:").values_list("worker", "started_at"))
    void = [(holder, claimed_at) for holder, claimed_at in claims
            if not WorkerProcess.objects.is_alive(holder, claimed_at)]
    if not void:
        return {"requeued": 0, "failed": 0}
    dead = {holder for holder, _ in void}
    # Conditional on the same claim (holder and time), so a row another process took over meanwhile is left alone.
    held = Q()
    for holder, claimed_at in void:
        held |= Q(worker=holder, started_at=claimed_at)
    orphans = running.filter(held)
    now, limit = timezone.now(), settings.CLASSIFIER["MAX_ATTEMPTS"]
    failed_ids = list(orphans.filter(attempts__gte=limit).values_list("pk", flat=True))
    failed = orphans.filter(pk__in=failed_ids).update(
        status=Classification.Status.FAILED, finished_at=now,
        error_message=f"Gave up after {limit} attempts: the process classifying it died each time.",
    )
    for row in Classification.objects.filter(pk__in=failed_ids, status=Classification.Status.FAILED):
        notify_finished(row)
    requeued = 0
    for pk in orphans.values_list("pk", flat=True):
        if orphans.filter(pk=pk).update(
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


def resend_what_dead_processes_may_have_taken(dead: Sequence[WorkerProcess]) -> list[int]:
    """Send a fresh message for each queued row whose message is held unacknowledged, not waiting, in Redis.

    ``dead`` are classify processes of this machine that just died. Any of
    them may have taken companions (serving/batching.py) and died before
    claiming their rows, whose messages Redis hands out again only after its
    visibility timeout (an hour). Kombu does not record which consumer holds a
    message, so one held by a live process or by the Celery parent (prefetched)
    is sent again too: harmless, as a row is claimed with one conditional
    update and finished once, and the second delivery is skipped. Only messages
    handed out since the first of them started can be theirs; the rest are
    left alone. Nothing ran, so the row is not touched (no attempt counted),
    and running or finished rows are never sent. Without Redis (the filesystem
    fallback) who holds what is unknown: nothing is sent. Returns the ids sent again.
    """
    if not dead:
        return []
    deliveries = queueing.deliveries(queueing.CLASSIFY_IMAGE)
    if deliveries is None:
        return []
    starts = [process.started_at for process in dead]
    since = min(starts).timestamp() if None not in starts else 0.0
    taken = [pk for pk, held_since in deliveries.held_since.items()  # a first argument that is no id is not ours
             if isinstance(pk, int) and pk not in deliveries.waiting and held_since >= since]
    ids = sorted(Classification.objects.filter(pk__in=taken, status=Classification.Status.QUEUED)
                 .values_list("pk", flat=True))
    sent = []
    for pk in ids:
        try:
            queueing.classify(pk)
        except Exception:  # the broker is gone, the rest would fail alike: Redis gives them out after its timeout
            logger.warning("Could not queue classification %s again", pk, exc_info=True)
            break
        sent.append(pk)
    if ids:
        logger.warning("Sent again the messages of %d queued classification(s) %s that dead process(es) %s may have "
                       "taken", len(sent), sent, ", ".join(sorted(process.worker_id for process in dead)))
    return sent
