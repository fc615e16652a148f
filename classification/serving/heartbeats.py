"""Heartbeats: each worker process says it is alive, so nothing has to guess.

A process calls :func:`start_heartbeat` once it is up (the tasks module does,
in ``worker_process_init``): a daemon thread upserts its ``WorkerProcess`` row
every ``CLASSIFIER["HEARTBEAT_SECONDS"]``. A killed process stops beating; its
row turns stale after three beats (``WorkerProcess.objects.live()``), and any
live process deletes rows silent for ten, and at once the rows of processes
on its own host that are gone, so readiness, ``/metrics`` and the admin count
only live processes. Row claims name the process by
:func:`worker_id`; :func:`is_alive` tells whether such a claim is still held.

The thread uses its own database connection (Django's are per thread), closed
after each beat: a beat is cheap and rare, and a held connection would take a
slot from the process's pool.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import connection
from django.utils import timezone

from classification.models import WorkerProcess
from classification.models.workers import heartbeat_seconds, this_process_id
from classification.serving import orphans

logger = logging.getLogger(__name__)

_started: dict[int, threading.Thread] = {}  # per pid: a forked child does not inherit the parent's thread
_lock = threading.Lock()
_fields: dict = {"pid": None}  # what the beats write; reset in a forked child (see _mine)


def worker_id() -> str:
    """``"hostname:pid"`` of this process."""
    return this_process_id()


def is_alive(worker_id: str, claimed_at=None) -> bool:
    """Whether the process that wrote ``worker_id`` into a claim (made at ``claimed_at``) still runs.

    Same host: its pid, and no later process in its place; else a live beat (WorkerProcessQuerySet.is_alive).
    """
    return WorkerProcess.objects.is_alive(worker_id, claimed_at)


def report(**fields) -> None:
    """Record what this process holds (model, runtime, threads...) now, and in every later beat."""
    _mine().update(fields)
    beat()


def beat() -> None:
    """Upsert this process's row (last_seen now) and forget long-dead ones; never raises."""
    try:
        defaults = {key: value for key, value in _mine().items() if key != "pid"}
        defaults["last_seen"] = timezone.now()
        WorkerProcess.objects.update_or_create(hostname=socket.gethostname(), pid=os.getpid(), defaults=defaults)
        WorkerProcess.objects.forgotten().delete()
        _forget_dead_neighbours()
    except Exception:  # a status row must never stop a worker
        logger.warning("Could not record this worker's heartbeat", exc_info=True)


def _forget_dead_neighbours() -> None:
    """Delete the rows of this host's processes that are gone, as a clean stop deletes its own.

    A killed pool process would otherwise count as live for three more beats
    (readiness, ``/metrics``); its replacement's first beat, or any
    neighbour's next one, removes it. The process table says who is gone here:
    no such pid, or a later process that took its pid. This is the moment a
    death here is known, so the messages a dead classify process may have
    taken and not claimed are sent again here too (serving/orphans.py).
    """
    host = socket.gethostname()
    neighbours = WorkerProcess.objects.filter(hostname=host).exclude(pid=os.getpid())
    gone = [process for process in neighbours.only("pk", "hostname", "pid", "role", "started_at")
            if not WorkerProcess.objects.is_alive(process.worker_id, process.started_at)]
    # One by one: whoever deletes a dead classify process's row sends again what it may have taken, once,
    # however many neighbours notice the death together.
    forgotten = [process for process in gone if WorkerProcess.objects.filter(pk=process.pk).delete()[0]]
    classifying = [process for process in forgotten if process.role == WorkerProcess.Role.CLASSIFY]
    if classifying:
        try:
            orphans.resend_what_dead_processes_may_have_taken(classifying)
        except Exception:
            logger.warning("Could not send again what dead processes may have taken (Redis gives it out "
                           "again after its visibility timeout)", exc_info=True)


def start_heartbeat(role: str) -> None:
    """Beat now and then every ``HEARTBEAT_SECONDS`` from a daemon thread; once per process."""
    with _lock:
        thread = _started.get(os.getpid())
        if thread is not None and thread.is_alive():
            return
        fields = _mine()
        fields.update(role=role, started_at=fields.get("started_at") or timezone.now())
        beat()
        thread = threading.Thread(target=_beat_forever, name="heartbeat", daemon=True)
        _started[os.getpid()] = thread
        thread.start()


def stop_heartbeat() -> None:
    """Stop beating and delete this process's row: a process that ends cleanly is gone at once."""
    with _lock:
        thread = _started.pop(os.getpid(), None)
        _stopping.set()
    if thread is not None:
        thread.join(timeout=heartbeat_seconds() + 5)
    _stopping.clear()
    try:
        WorkerProcess.objects.filter(hostname=socket.gethostname(), pid=os.getpid()).delete()
    except Exception:
        logger.warning("Could not delete this worker's heartbeat row", exc_info=True)


_stopping = threading.Event()


def _beat_forever() -> None:
    while not _stopping.wait(heartbeat_seconds()):
        beat()
        connection.close()  # this thread's own connection; see the module docstring
    connection.close()


def _mine() -> dict:
    """This process's fields: a forked child starts afresh rather than reporting its parent's."""
    if _fields["pid"] != os.getpid():
        _fields.clear()
        _fields["pid"] = os.getpid()
    return _fields
