"""The sweeper against the real Redis broker and a real Celery worker: lost work is taken back, waiting work
is left alone, and a row that finishes while the sweeper looks is never touched.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from classification import queueing
from classification.intake import submission
from classification.models import Classification, WorkerProcess
from classification.serving import recovery
from tests.conftest import image_bytes, solo_worker, wait_until_finished

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_WORKER = f"{socket.gethostname()}:{2**22 + 12345}"  # above Linux's pid_max: no such process
# On another machine, with no heartbeat: dead too, and a worker starting here leaves its rows to the sweeper.
DEAD_WORKER_ELSEWHERE = "another-machine:4242"


@pytest.fixture
def broker():
    from classifier_site.celery import app

    app.control.purge()
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    app.control.purge()


def waiting_messages(client) -> int:
    return client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)


def submit(count: int, *, age_s: float = 0) -> list[Classification]:
    rows = [submission.submit_image(data=image_bytes(color=(i, 40, 80)), original_name=f"{i}.jpg") for i in range(count)]
    if age_s:
        Classification.objects.filter(pk__in=[row.pk for row in rows]).update(
            created_at=timezone.now() - timedelta(seconds=age_s)
        )
    return rows


def past_threshold() -> float:
    return settings.CLASSIFIER["STUCK_AFTER_SECONDS"] + 60


def test_a_backlog_older_than_the_threshold_is_only_waiting(active_tiny_model, broker):
    """Messages waiting in the queue, or held by a live worker: neither queued again nor failed, however old."""
    rows = submit(6, age_s=past_threshold() * 10)
    held = queueing.take_waiting(queueing.CLASSIFY_IMAGE, 2)  # a live worker took two and has not acked them
    assert len(held) == 2 and waiting_messages(broker) == 4
    WorkerProcess.objects.create(hostname="elsewhere", pid=1, role=WorkerProcess.Role.CLASSIFY,
                                 started_at=timezone.now() - timedelta(hours=1), last_seen=timezone.now())
    for task in held:  # handed out long ago (past the grace period), after that live process started
        broker.zadd("unacked_index", {task.message.delivery_tag: time.time() - past_threshold() * 2})
    try:
        for _ in range(settings.CLASSIFIER["MAX_ATTEMPTS"] + 1):  # more sweeps than a row has attempts
            assert recovery.requeue_stuck() == {"requeued": 0, "failed": 0}
        assert waiting_messages(broker) == 4  # no duplicate messages either
        assert set(Classification.objects.values_list("status", "attempts")) == {("queued", 0)}
    finally:
        queueing.settle(held, "requeue")

    with solo_worker():
        finished = wait_until_finished([row.pk for row in rows])
    assert [(row.status, row.attempts) for row in finished] == [("done", 0)] * 6


def test_a_lost_message_is_sent_again_once_past_the_threshold(active_tiny_model, broker):
    lost, fresh = submit(1, age_s=past_threshold())[0], submit(1)[0]
    broker.delete(settings.CELERY_TASK_DEFAULT_QUEUE)  # a Redis that restarted without its queue

    assert recovery.requeue_stuck() == {"requeued": 1, "failed": 0}
    assert waiting_messages(broker) == 1
    assert recovery.requeue_stuck() == {"requeued": 0, "failed": 0}  # sent again: waiting now
    assert Classification.objects.get(pk=fresh.pk).attempts == 0  # within the grace period: not judged yet
    with solo_worker():
        [row] = wait_until_finished([lost.pk])
    assert (row.status, row.attempts) == ("done", 0)  # a lost message is no attempt: nothing ran


def test_a_message_held_by_a_dead_worker_is_lost(active_tiny_model, broker):
    """Taken before every live classify process started: its taker died (it would wait for the visibility timeout)."""
    [row] = submit(1, age_s=past_threshold() * 2)
    held = queueing.take_waiting(queueing.CLASSIFY_IMAGE, 1)
    WorkerProcess.objects.create(hostname="elsewhere", pid=2, role=WorkerProcess.Role.CLASSIFY,
                                 started_at=timezone.now() - timedelta(seconds=30), last_seen=timezone.now())
    try:
        # Recently handed out, its taker has the grace period to claim it (a worker may still be starting).
        assert recovery.requeue_stuck() == {"requeued": 0, "failed": 0}
        # Handed out before the grace period and before the live process started (kombu's index says when).
        broker.zadd("unacked_index", {held[0].message.delivery_tag: time.time() - past_threshold()})
        assert recovery.requeue_stuck() == {"requeued": 1, "failed": 0}
    finally:
        queueing.settle(held, "ack")
    assert waiting_messages(broker) == 1
    assert Classification.objects.get(pk=row.pk).attempts == 0  # never claimed: no attempt


@pytest.mark.parametrize(("started_after_s", "lost"), [(0.4, True), (-0.4, False)],
                         ids=["process-started-just-after", "process-started-just-before"])
def test_a_message_taken_a_moment_before_the_only_live_process_started_is_lost(
    active_tiny_model, broker, started_after_s, lost
):
    """A pool process takes a batch's companions and is killed; its replacement starts within the second.

    The taker is dead, so the companions' messages are lost, however close the
    replacement's start: a second of slack left them unacknowledged until the
    broker's visibility timeout (an hour). Taken a moment after the live
    process started, the same message may be that process's own: held.
    """
    [row] = submit(1, age_s=past_threshold() * 2)
    held = queueing.take_waiting(queueing.CLASSIFY_IMAGE, 1)
    handed_out = time.time() - past_threshold()  # past the grace period, so only the live process decides
    broker.zadd("unacked_index", {held[0].message.delivery_tag: handed_out})
    WorkerProcess.objects.create(
        hostname="elsewhere", pid=3, role=WorkerProcess.Role.CLASSIFY, last_seen=timezone.now(),
        started_at=timezone.now() - timedelta(seconds=time.time() - handed_out - started_after_s),
    )
    try:
        assert recovery.requeue_stuck() == {"requeued": int(lost), "failed": 0}
    finally:
        queueing.settle(held, "ack")
    assert waiting_messages(broker) == int(lost)
    assert Classification.objects.get(pk=row.pk).status == "queued"


def _this_process_started():
    from datetime import datetime, timezone as dt_timezone

    from classification.models.workers import process_started_at

    return datetime.fromtimestamp(process_started_at(os.getpid()), tz=dt_timezone.utc)


def test_running_rows_are_taken_back_only_from_dead_workers(active_tiny_model, broker):
    dead, alive, replaced = submit(3)
    me = f"{socket.gethostname()}:{os.getpid()}"
    Classification.objects.filter(pk=dead.pk).update(status="running", worker=DEAD_WORKER, started_at=timezone.now())
    # Claimed by this (live) process as soon as it could: a slow batch, running for as long as the process has.
    Classification.objects.filter(pk=alive.pk).update(
        status="running", worker=me, started_at=_this_process_started() + timedelta(seconds=2))
    # Claimed under the same id before this process started: by the one that had its pid before (a container
    # restarted, numbering its processes from 1 again), dead whatever the process table says of the pid now.
    Classification.objects.filter(pk=replaced.pk).update(
        status="running", worker=me, started_at=_this_process_started() - timedelta(minutes=5))
    broker.delete(settings.CELERY_TASK_DEFAULT_QUEUE)

    assert recovery.requeue_stuck() == {"requeued": 2, "failed": 0}  # at once: no threshold for a dead holder

    rows = {row.pk: row for row in Classification.objects.all()}
    assert (rows[dead.pk].status, rows[dead.pk].worker, rows[dead.pk].attempts) == ("queued", "", 1)
    assert (rows[replaced.pk].status, rows[replaced.pk].worker, rows[replaced.pk].attempts) == ("queued", "", 1)
    assert (rows[alive.pk].status, rows[alive.pk].attempts) == ("running", 0)  # a slow batch of a live worker
    assert waiting_messages(broker) == 2


def test_a_new_process_takes_back_what_dead_processes_here_held_and_only_that(active_tiny_model, broker):
    """At its start (serving/orphans.py), before the sweeper would: a process killed mid-batch, and one whose
    pid this very process has now (a restarted container numbers its processes from 1 again)."""
    from classification.serving import orphans

    dead, predecessor, mine, elsewhere = submit(4)
    me = f"{socket.gethostname()}:{os.getpid()}"
    claims = {dead.pk: (DEAD_WORKER, timezone.now()),
              predecessor.pk: (me, _this_process_started() - timedelta(minutes=5)),
              mine.pk: (me, _this_process_started() + timedelta(seconds=2)),
              elsewhere.pk: (DEAD_WORKER_ELSEWHERE, timezone.now())}  # another machine's: the sweeper's to judge
    for pk, (worker, claimed_at) in claims.items():
        Classification.objects.filter(pk=pk).update(status="running", worker=worker, started_at=claimed_at)
    broker.delete(settings.CELERY_TASK_DEFAULT_QUEUE)

    assert orphans.requeue_rows_of_dead_processes_here() == {"requeued": 2, "failed": 0}

    rows = {row.pk: (row.status, row.attempts) for row in Classification.objects.all()}
    assert rows == {dead.pk: ("queued", 1), predecessor.pk: ("queued", 1), mine.pk: ("running", 0),
                    elsewhere.pk: ("running", 0)}
    assert waiting_messages(broker) == 2


def test_a_running_row_whose_message_is_back_in_the_queue_gets_no_second_message(active_tiny_model, broker):
    [row] = submit(1)  # its message waits: the pool process died and the worker handed it back
    Classification.objects.filter(pk=row.pk).update(status="running", worker=DEAD_WORKER, started_at=timezone.now())

    assert recovery.requeue_stuck() == {"requeued": 1, "failed": 0}
    assert waiting_messages(broker) == 1
    assert Classification.objects.get(pk=row.pk).status == "queued"


@pytest.mark.parametrize("attempts", [0, 3], ids=["would-requeue", "would-fail"])
def test_a_row_finished_between_the_sweepers_look_and_its_update_is_left_alone(
    active_tiny_model, broker, monkeypatch, attempts
):
    """The sweeper selects an abandoned running row; before it updates, a real worker finishes the row."""
    [row] = submit(1)
    Classification.objects.filter(pk=row.pk).update(
        status="running", worker=DEAD_WORKER_ELSEWHERE, started_at=timezone.now(), attempts=attempts
    )
    real_deliveries = queueing.deliveries

    def finished_meanwhile(*args, **kwargs):
        wait_until_finished([row.pk])  # the worker's claim takes a dead holder's row and classifies it
        return real_deliveries(*args, **kwargs)

    monkeypatch.setattr(queueing, "deliveries", finished_meanwhile)
    with solo_worker():
        counts = recovery.requeue_stuck()

    finished = Classification.objects.get(pk=row.pk)
    assert counts == {"requeued": 0, "failed": 0}
    assert (finished.status, finished.attempts, finished.error_message) == ("done", attempts, "")
    assert waiting_messages(broker) == 0  # and no message sent for it


def test_a_queued_row_finished_between_the_look_and_the_update_is_left_alone(active_tiny_model, broker, monkeypatch):
    [row] = submit(1, age_s=past_threshold())
    broker.delete(settings.CELERY_TASK_DEFAULT_QUEUE)  # its message is lost...
    real_deliveries = queueing.deliveries
    calls = []

    def finished_meanwhile(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # ...it looked lost twice; between the second look and the update, it finishes
            queueing.classify(row.pk)
            wait_until_finished([row.pk])
        return real_deliveries(*args, **kwargs)

    monkeypatch.setattr(queueing, "deliveries", finished_meanwhile)
    with solo_worker():
        counts = recovery.requeue_stuck()

    assert len(calls) == 2 and counts == {"requeued": 0, "failed": 0}
    assert (Classification.objects.get(pk=row.pk).status, Classification.objects.get(pk=row.pk).attempts) == ("done", 0)


def test_the_sweeper_runs_on_its_own_queue_not_behind_the_classify_backlog(broker):
    from classifier_site.celery import app

    assert settings.CELERY_SWEEPER_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE
    schedule = app.conf.beat_schedule["requeue-stuck-classifications"]
    assert schedule["options"]["queue"] == settings.CELERY_SWEEPER_QUEUE
    assert schedule["schedule"] == settings.CLASSIFIER["SWEEP_INTERVAL_SECONDS"] <= 30
    broker.delete(settings.CELERY_SWEEPER_QUEUE)
    app.send_task(queueing.REQUEUE_STUCK)  # as beat sends it, routed by name
    assert broker.llen(settings.CELERY_SWEEPER_QUEUE) == 1
    assert waiting_messages(broker) == 0
    broker.delete(settings.CELERY_SWEEPER_QUEUE)
