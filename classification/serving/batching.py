"""Micro-batching: a classify task takes the classifications waiting behind it as companions.

One model call for a batch costs little more than one for a single image, so
a task classifies the images still waiting in its queue together with its own.
It never waits for more by default (``CLASSIFIER_BATCH_MAX_WAIT_MS`` is 0), so a
lone image is answered at once and batches grow only with the load. The
companions' messages are acknowledged only once their rows are saved, and go
back to the queue if the batch fails as a whole, as ``acks_late`` does for the
task itself: a process that dies meanwhile has acknowledged nothing, so the
broker delivers them again, and the service skips rows already done.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings

from classification import queueing


@contextmanager
def queued_companions():
    """The ids of classifications queued behind the running task, to classify with it.

    At most ``CLASSIFIER_BATCH_MAX_SIZE - 1`` of them. Their messages are
    acknowledged when the block ends normally, and go back to the queue when
    it raises, so each is classified by one batch or by its own task.
    """
    taken = _take(settings.CLASSIFIER_BATCH_MAX_SIZE - 1)
    try:
        yield [int(task.args[0]) for task in taken]
    except BaseException:
        queueing.settle(taken, "requeue")
        raise
    queueing.settle(taken, "ack")


def warm_up() -> None:
    """Take once and put back: the first take sets up the broker connection and more.

    Anything taken goes straight back (the parent hands out queued tasks as soon
    as this process is ready).
    """
    queueing.settle(_take(1), "requeue")


def _take(limit: int) -> list[queueing.WaitingTask]:
    taken = queueing.take_waiting(queueing.CLASSIFY_IMAGE, limit, settings.CLASSIFIER_BATCH_MAX_WAIT_MS / 1000)
    plain = [task for task in taken if len(task.args) == 1 and _is_id(task.args[0])]
    queueing.settle([task for task in taken if task not in plain], "requeue")
    return plain


def _is_id(value) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True
