"""Companions a killed pool process took and never claimed (serving/orphans.py), against the real Redis broker.

A classify task takes the messages waiting behind it (kombu moves each to its
``unacked`` hash) before it claims their rows; killed in between, its process
leaves the rows queued and the messages held for Redis' visibility timeout (an
hour). Here the test takes them with ``queueing.take_waiting`` and never
settles them, as that process would have, and a ``WorkerProcess`` row with a
pid no process has stands for it.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from classification import queueing
from classification.intake.submission import submit_image
from classification.models import Classification, WorkerProcess
from classification.serving import heartbeats, orphans
from classifier_site.celery import app
from tests.conftest import image_bytes
from tests.test_heartbeats import _nothing_reported_yet  # noqa: F401 (autouse: this process beats in these tests)

pytestmark = pytest.mark.django_db

HERE = socket.gethostname()
NO_SUCH_PID = 2**22 + 4321  # above Linux's pid_max: no such process


@pytest.fixture
def broker():
    app.control.purge()
    held: list[queueing.WaitingTask] = []
    yield redis.Redis.from_url(settings.REDIS_URL), held
    queueing.settle(held, "ack")  # what the "dead" process took must not outlive the test in unacked
    app.control.purge()
    queueing._drop_connection()


def queued(count: int) -> list[Classification]:
    """Queued rows with their messages waiting (submit_image queues on commit, which these tests never reach)."""
    rows = [submit_image(data=image_bytes(color=(20 * i, 60, 90)), original_name=f"{i}.jpg") for i in range(count)]
    for row in rows:
        queueing.classify(row.pk)
    return rows


def take(held: list, count: int) -> None:
    taken = queueing.take_waiting(queueing.CLASSIFY_IMAGE, count)
    held.extend(taken)
    assert len(taken) == count


def waiting() -> list[int]:
    return sorted(queueing.deliveries(queueing.CLASSIFY_IMAGE).waiting)


def dead_process(started_ago_s: float = 60, **fields) -> WorkerProcess:
    return WorkerProcess.objects.create(hostname=HERE, pid=NO_SUCH_PID, role=WorkerProcess.Role.CLASSIFY,
                                        started_at=timezone.now() - timedelta(seconds=started_ago_s), **fields)


def seen() -> dict[int, tuple]:
    return {row.pk: (row.status, row.attempts, row.worker) for row in Classification.objects.all()}


def test_the_companions_a_dead_process_here_took_and_never_claimed_are_sent_again_at_its_first_beat(broker):
    client, held = broker
    dead = dead_process()  # took companions, then was killed before claiming them
    companion, running, done, returned, behind = queued(5)
    take(held, 4)  # companion, running, done and returned: now in unacked, held by nobody alive
    queueing.classify(returned.pk)  # back in the queue already (the worker's parent rejects its own task's message)
    me = heartbeats.worker_id()
    Classification.objects.filter(pk=running.pk).update(status="running", worker=me, started_at=timezone.now())
    Classification.objects.filter(pk=done.pk).update(status="done")
    before = seen()

    heartbeats.beat()  # a new pool process's first beat, or a neighbour's next one

    assert waiting() == sorted([behind.pk, companion.pk, returned.pk])  # a fresh message for the companion
    assert client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 3  # and none for what was waiting already
    assert seen() == before  # the companion still queued, no attempt counted; running and done untouched
    assert not WorkerProcess.objects.filter(pk=dead.pk).exists()  # forgotten, so sent again once:
    heartbeats.beat()
    assert client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 3


def test_nothing_is_sent_again_without_a_dead_process_here(broker):
    client, held = broker
    companion, behind = queued(2)
    take(held, 1)  # held by a process that lives (this one)
    WorkerProcess.objects.create(hostname="another-machine", pid=NO_SUCH_PID, role=WorkerProcess.Role.CLASSIFY,
                                 started_at=timezone.now() - timedelta(minutes=1))  # its own heartbeat decides
    WorkerProcess.objects.create(hostname=HERE, pid=os.getppid(), role=WorkerProcess.Role.CLASSIFY,
                                 started_at=timezone.now() + timedelta(seconds=5))  # alive

    heartbeats.beat()

    assert waiting() == [behind.pk]
    assert orphans.resend_what_dead_processes_may_have_taken([]) == []
    assert client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 1
    assert seen()[companion.pk] == ("queued", 0, "")


def test_only_messages_handed_out_since_the_dead_process_started_can_be_its_own(broker):
    """One held since before it started is another consumer's (the Celery parent's prefetch, a live process's)."""
    client, held = broker
    older, newer = queued(2)
    take(held, 2)
    client.zadd("unacked_index", {held[0].message.delivery_tag: (timezone.now() - timedelta(minutes=5)).timestamp()})

    assert orphans.resend_what_dead_processes_may_have_taken([dead_process(started_ago_s=60)]) == [newer.pk]
    assert waiting() == [newer.pk]
    assert seen()[older.pk] == seen()[newer.pk] == ("queued", 0, "")


def test_without_redis_nobody_can_tell_what_is_held_and_nothing_is_sent(broker, settings):
    client, held = broker
    queued(1)
    take(held, 1)
    settings.REDIS_URL = ""  # a broker whose held messages cannot be read

    assert orphans.resend_what_dead_processes_may_have_taken([dead_process()]) == []
    assert client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 0
