"""Recovering work that got stuck: the sweeper, run by beat on a queue and worker of its own.

Two kinds of row can be stranded, and the sweeper tells each from work that
is only waiting, so a long backlog is neither queued again nor failed:

* a **running** row whose claiming process (``Classification.worker``) is no
  longer alive (heartbeats; on the same host, the process table): its worker
  died mid-batch. It is queued again; a new message is sent only when its own
  is not back in the queue already.
* a **queued** row whose message is lost (a Redis that restarted without
  persistence): queued for longer than ``STUCK_AFTER_SECONDS`` and its
  message neither waits in the broker nor is held by a worker that may still
  be alive (:func:`classification.queueing.deliveries`). A message held since
  before every live classify process started belongs to a dead worker, which
  keeps it until the broker's visibility timeout (hours): the row is queued again.

Every update is conditional on what the sweeper saw (status, holder,
attempts), so a row that finished, or was claimed, between the look and the
update is left alone. The classify task claims rows conditionally too, so a
duplicate message classifies nothing twice. A row that keeps getting stranded
is failed after ``MAX_ATTEMPTS`` instead of looping for ever.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from classification import queueing
from classification.models import Classification, WorkerProcess
from classification.serving import heartbeats
from classification.serving.dispatch import enqueue
from classification.serving.notifications import notify_finished

logger = logging.getLogger(__name__)

RECHECK_DELAY_S = 1.0  # a row that looks lost is looked for again after this long before it is taken back


def requeue_stuck(now=None) -> dict[str, int]:
    """Take back stranded rows: queue them again, or fail those that used up their attempts. Returns counts."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0}
    # What the sweeper sees now is what its updates are conditional on (status, holder, attempts).
    abandoned = abandoned_running(now)
    limit = now - timedelta(seconds=settings.CLASSIFIER["STUCK_AFTER_SECONDS"])
    suspects = {row["pk"]: row for row in Classification.objects.filter(_queued_past(limit)).values(*_SEEN)}
    if not abandoned and not suspects:
        return counts
    deliveries = queueing.deliveries(queueing.CLASSIFY_IMAGE)
    lost = _lost(suspects, deliveries, limit)
    if lost:  # a message in transit between two reads: look again once before taking anything back
        time.sleep(RECHECK_DELAY_S)
        deliveries = queueing.deliveries(queueing.CLASSIFY_IMAGE)
        lost &= _lost(lost, deliveries, limit)
    waiting = deliveries.waiting if deliveries is not None else set()
    for row in [*abandoned, *(suspects[pk] for pk in sorted(lost))]:
        _take_back(row, now, counts, send=row["pk"] not in waiting)
    if counts["requeued"] or counts["failed"]:
        logger.warning("Sweeper re-queued %d stuck classification(s) and failed %d", counts["requeued"], counts["failed"])
    return counts


_SEEN = ("pk", "status", "worker", "started_at", "attempts")


def abandoned_running(now=None) -> list[dict]:
    """Running rows whose claiming process is dead, as seen (:data:`_SEEN`).

    Dead: gone, or replaced under the same id by a process that started after
    the claim (heartbeats.is_alive). A row with no recorded holder (claimed
    before holders were recorded) is taken as abandoned once it has run longer
    than ``STUCK_AFTER_SECONDS``.
    """
    now = now or timezone.now()
    running = Classification.objects.filter(status=Classification.Status.RUNNING)
    claims = set(running.exclude(worker="").values_list("worker", "started_at").distinct())
    unnamed_before = now - timedelta(seconds=settings.CLASSIFIER["STUCK_AFTER_SECONDS"])
    void = Q(worker="", started_at__lt=unnamed_before)
    for holder, claimed_at in claims:
        if not heartbeats.is_alive(holder, claimed_at):
            void |= Q(worker=holder, started_at=claimed_at)
    return list(running.filter(void).values(*_SEEN))


def _queued_past(limit) -> Q:
    """Queued rows whose last queueing (first, or the sweeper's) is older than ``limit``."""
    return Q(status=Classification.Status.QUEUED) & (
        Q(requeued_at__isnull=True, created_at__lt=limit) | Q(requeued_at__lt=limit)
    )


def _lost(ids, deliveries: queueing.Deliveries | None, limit) -> set[int]:
    """Those of ``ids`` whose message neither waits nor is held by a worker that may be alive.

    A message handed out after ``limit`` is given the same grace as a queued
    row (its worker may still be starting: the heartbeat begins once the
    model is loaded). Without a broker to ask, nothing is called lost (a long
    queue must not be taken for lost work).
    """
    if deliveries is None or not ids:
        return set()
    starts = WorkerProcess.objects.live(role=WorkerProcess.Role.CLASSIFY).values_list("started_at", flat=True)
    oldest_live = min((start.timestamp() for start in starts if start is not None), default=None)
    lost = set()
    for pk in ids:
        if pk in deliveries.waiting:
            continue
        held_since = deliveries.held_since.get(pk)
        if held_since is not None and held_since >= limit.timestamp():
            continue  # handed out recently: its worker has the grace period to claim it
        if held_since is not None and oldest_live is not None and held_since >= oldest_live:
            continue  # held by a worker that may be alive (one started before it was handed out)
        lost.add(pk)
    return lost


def _take_back(row: dict, now, counts: dict[str, int], *, send: bool) -> None:
    """Queue one row again (conditionally on what was seen), or fail it when its attempts are used up."""
    seen = Classification.objects.filter(**row)  # what the sweeper saw (_SEEN): status, holder, claim time, attempts
    if row["attempts"] >= settings.CLASSIFIER["MAX_ATTEMPTS"]:
        failed = seen.update(
            status=Classification.Status.FAILED, worker="", finished_at=now,
            error_message=f"Gave up after {row['attempts']} attempts; the image may be unprocessable.",
        )
        if failed:
            notify_finished(Classification.objects.get(pk=row["pk"]))
            counts["failed"] += 1
        return
    # An attempt is a worker dying while it held the row (the image may be what kills it); a message lost with
    # the broker (a Redis restart) is no attempt: under a backlog, a few restarts would otherwise fail good images.
    attempted = 1 if row["status"] == Classification.Status.RUNNING else 0
    if seen.update(status=Classification.Status.QUEUED, worker="", requeued_at=now, attempts=F("attempts") + attempted):
        if send:
            enqueue(row["pk"])
        counts["requeued"] += 1
