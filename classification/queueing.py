"""The one seam between the house and its message broker.

Every task is named here, and everything the house sends to or takes from the
broker goes through these functions: domain code queues work by name, never by
importing ``classification.tasks``, so it depends on neither Celery nor the
worker's code, and the web process never imports what the worker runs. Only
this module and the tasks module import Celery (an import-linter contract).

It also owns the broker-level details the rest of the house should not know:
which queue each task goes to, the periodic schedule, the raw messages a
worker takes from its queue to batch them, pinging workers and counting what
waits in each queue.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

from classifier_site.celery import app

logger = logging.getLogger(__name__)

# The task names (they stay those of the tasks' first home, so messages queued by
# an older deployment still find their task after an upgrade).
CLASSIFY_IMAGE = "classification.tasks.classify_image"
TRAIN_MODEL = "classification.tasks.train_model"
REQUEUE_STUCK = "classification.tasks.requeue_stuck"
DELETE_EXPIRED = "classification.tasks.delete_expired"
DELIVER_ALERT = "classification.tasks.deliver_alert"
COMPILE_MODEL = "classification.tasks.compile_model_version"

# Housekeeping runs on the sweeper's own queue and worker: never behind the classify backlog it checks.
_SWEEPER = {"queue": settings.CELERY_SWEEPER_QUEUE}
app.conf.task_routes = {REQUEUE_STUCK: _SWEEPER, DELETE_EXPIRED: _SWEEPER}
app.conf.beat_schedule = {
    "requeue-stuck-classifications": {
        "task": REQUEUE_STUCK,
        "schedule": settings.CLASSIFIER["SWEEP_INTERVAL_SECONDS"],
        # A sweep not started within an interval is skipped: the next one does the same work.
        "options": {**_SWEEPER, "expires": settings.CLASSIFIER["SWEEP_INTERVAL_SECONDS"]},
    },
    # Expired unreviewed images and their files (classification.privacy.retention); hourly is plenty for days.
    "delete-expired-images": {"task": DELETE_EXPIRED, "schedule": 3600.0, "options": _SWEEPER},
}


def classify(classification_id: int) -> None:
    """Queue the classification of a stored image (raises when the broker is unreachable)."""
    app.send_task(CLASSIFY_IMAGE, args=[classification_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def train(training_run_id: int) -> None:
    """Queue a training run on the training queue, never beside classifications."""
    app.send_task(TRAIN_MODEL, args=[training_run_id], queue=settings.CELERY_TRAINING_QUEUE)


def compile_model(version_id: int) -> None:
    """Queue a model version's ONNX export and check on the training (registry) queue, never a serving one."""
    app.send_task(COMPILE_MODEL, args=[version_id], queue=settings.CELERY_TRAINING_QUEUE)


def deliver_alert(delivery_id: int) -> None:
    """Queue an alert's delivery on the alerts queue: a slow webhook never holds up a classification."""
    app.send_task(DELIVER_ALERT, args=[delivery_id], queue=settings.CELERY_ALERTS_QUEUE)


def this_worker_classifies() -> bool:
    """Whether the worker this process belongs to consumes the classify queue (a training worker does not)."""
    consumed = app.amqp.queues.consume_from
    return not consumed or settings.CELERY_TASK_DEFAULT_QUEUE in consumed


def this_worker_trains() -> bool:
    """Whether the worker this process belongs to consumes the training queue."""
    consumed = app.amqp.queues.consume_from
    return bool(consumed) and settings.CELERY_TRAINING_QUEUE in consumed


def this_worker_sweeps() -> bool:
    """Whether the worker this process belongs to consumes the sweeper's queue (and nothing it must classify)."""
    consumed = app.amqp.queues.consume_from
    return bool(consumed) and settings.CELERY_SWEEPER_QUEUE in consumed


# --- taking waiting tasks, for micro-batching ---------------------------------------------


@dataclass
class WaitingTask:
    """A task message taken from the queue, not yet acknowledged: :func:`settle` it."""

    args: list[Any]
    message: Any


_connection = None  # this process's own broker connection (made after the fork)


def take_waiting(task_name: str, limit: int, max_wait_s: float = 0.0) -> list[WaitingTask]:
    """Take up to ``limit`` plain ``task_name`` messages waiting in this worker's queue, unacknowledged.

    Plain means positional arguments only and no ETA. Anything else (an ETA,
    another task) goes back and stops the take. Waits up to ``max_wait_s`` for
    more; any broker error just ends the take, since taking is an optimisation.
    """
    if limit <= 0:
        return []
    deadline = time.monotonic() + max_wait_s
    taken: list[WaitingTask] = []
    try:
        queue = _default_queue()
        while len(taken) < limit:
            message = queue.get(no_ack=False, accept=["json"])
            if message is None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.002)
                continue
            args = _plain_arguments(message, task_name)
            if args is None:
                message.requeue()
                break
            taken.append(WaitingTask(args, message))
    except Exception:
        logger.warning("Could not take waiting tasks from the queue", exc_info=True)
        _drop_connection()
    return taken


def settle(tasks: list[WaitingTask], action: str) -> None:
    """``"ack"`` the taken messages (their work is saved) or ``"requeue"`` them (it is not)."""
    for task in tasks:
        try:
            getattr(task.message, action)()
        except Exception:
            # Unacknowledged, the broker delivers it again later; the task is idempotent.
            logger.warning("Could not %s the message of %s", action, task.args, exc_info=True)
            _drop_connection()


def _default_queue():
    global _connection
    if _connection is None:
        # One retry, not the default of retrying forever: a broker that is gone ends the take, not the task.
        _connection = app.connection_for_read(transport_options={"max_retries": 1})
    return app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE](_connection.default_channel)


def _drop_connection() -> None:
    global _connection
    connection, _connection = _connection, None
    if connection is not None:
        try:
            connection.release()
        except Exception:
            pass


def _plain_arguments(message, task_name: str) -> list[Any] | None:
    """The positional arguments of a plain ``task_name`` message (Celery protocol 2), else None."""
    headers = message.headers or {}
    if headers.get("task") != task_name or headers.get("eta"):
        return None
    try:
        args, kwargs, _embed = message.decode()
    except (AttributeError, TypeError, ValueError):
        return None
    return None if kwargs else list(args)


# --- what the broker can tell -------------------------------------------------------------


def broker_answers() -> tuple[bool, str]:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"broker unreachable: {type(exc).__name__}"


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (Redis broker only; the fallback has no cheap count)."""
    if not settings.REDIS_URL:
        return {}
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    return {queue.name: int(client.llen(queue.name)) for queue in settings.CELERY_TASK_QUEUES}


# --- where task messages stand, for the sweeper -------------------------------------------


@dataclass
class Deliveries:
    """The messages of one task in one queue, by their first argument (a row id).

    ``waiting``: in the queue, not yet taken. ``held_since``: taken by a
    worker and not yet acknowledged (kombu's unacked set), with the Unix time
    it was handed out; a worker that died holding one leaves it there until
    the broker's visibility timeout.
    """

    waiting: set[Any]
    held_since: dict[Any, float]


def deliveries(task_name: str, queue: str | None = None) -> Deliveries | None:
    """Where ``task_name``'s messages in ``queue`` (the classify queue) stand; None when nobody can tell.

    Reads kombu's Redis structures as the transport writes them: the queue's
    lists (one per priority) and the ``unacked`` hash with its index. A
    message moves from the list to the unacked hash in two steps, so the hash
    is read before and after the lists: a message in transit is in one of the
    three reads. The filesystem broker (the no-Redis fallback) shows its
    waiting files; what a worker took from it is in that worker's memory.
    """
    queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    if settings.REDIS_URL:
        return _redis_deliveries(task_name, queue)
    if str(settings.CELERY_BROKER_URL).startswith("filesystem:"):
        return _filesystem_deliveries(task_name, queue)
    return None


# kombu's Redis transport keeps one list per priority step: the queue's name, then "\x06\x16" + priority for 3, 6,
# 9. The settings keep one step (the queue's name), and the others are read for what an older release queued there.
_PRIORITY_LISTS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _redis_deliveries(task_name: str, queue: str) -> Deliveries:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    held = _redis_held(client, options, task_name, queue)
    waiting: set[Any] = set()
    for key in [queue + suffix for suffix in _PRIORITY_LISTS]:
        for start in range(0, int(client.llen(key)), 1000):  # in slices: a long backlog never blocks Redis
            for raw in client.lrange(key, start, start + 999):
                argument = _first_argument(_loads(raw), task_name)
                if argument is not None:
                    waiting.add(argument)
    held.update(_redis_held(client, options, task_name, queue))
    return Deliveries(waiting, held)


def _redis_held(client, options: dict, task_name: str, queue: str) -> dict[Any, float]:
    payloads = client.hgetall(options.get("unacked_key", "unacked"))
    since = dict(client.zrange(options.get("unacked_index_key", "unacked_index"), 0, -1, withscores=True))
    held = {}
    for tag, raw in payloads.items():
        entry = _loads(raw)
        if not isinstance(entry, list) or len(entry) < 3 or entry[2] != queue:
            continue
        argument = _first_argument(entry[0], task_name)
        if argument is not None:
            held[argument] = float(since.get(tag, 0.0))
    return held


def _filesystem_deliveries(task_name: str, queue: str) -> Deliveries:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    waiting = set()
    for path in folder.glob(f"*.{queue}.msg"):
        try:
            waiting.add(_first_argument(_loads(path.read_bytes()), task_name))
        except OSError:  # taken meanwhile
            continue
    waiting.discard(None)
    return Deliveries(waiting, {})


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # not a message of ours
        return None


def _first_argument(message: Any, task_name: str) -> Any:
    """The first positional argument of a ``task_name`` message as the broker stores it (protocol 2), else None."""
    if not isinstance(message, dict) or (message.get("headers") or {}).get("task") != task_name:
        return None
    body = message.get("body", "")
    try:
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, TypeError, IndexError, KeyError):
        return None
    return args[0] if args else None
