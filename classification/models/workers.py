"""The worker processes that serve models (and train, and sweep), as each last reported.

Each process beats (``classification.serving.heartbeats``): it upserts its row
every ``CLASSIFIER["HEARTBEAT_SECONDS"]``. A row not seen for
:data:`LIVE_BEATS` beats is a dead process's; readiness, metrics, the admin
and the sweeper count only live ones.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from classification.models.registry import ModelVersion

# A process is live while its last beat is younger than this many beats (one missed beat is no death).
LIVE_BEATS = 3
# Rows older than this many beats are deleted by any beating process (they are history, not state).
FORGET_BEATS = 10


def heartbeat_seconds() -> float:
    return float(settings.CLASSIFIER.get("HEARTBEAT_SECONDS", 10.0))


def this_process_id() -> str:
    """``"hostname:pid"`` of this process: what it writes into the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc: the signal said it exists


class WorkerProcessQuerySet(models.QuerySet):
    def live(self, role: str | None = None):
        """Rows whose last beat is within :data:`LIVE_BEATS` beats (of one role, when given)."""
        rows = self.filter(last_seen__gte=timezone.now() - timedelta(seconds=LIVE_BEATS * heartbeat_seconds()))
        return rows if role is None else rows.filter(role=role)

    def forgotten(self):
        return self.filter(last_seen__lt=timezone.now() - timedelta(seconds=FORGET_BEATS * heartbeat_seconds()))

    def is_alive(self, worker_id: str) -> bool:
        """Whether the process ``"hostname:pid"`` still runs.

        On this host the process table decides (a killed process is dead at
        once, whatever its last beat said); elsewhere a live heartbeat does.
        An empty id (nobody holds the row) is not alive.
        """
        hostname, _, pid = worker_id.rpartition(":")
        if not hostname or not pid.isdigit():
            return False
        if hostname == socket.gethostname():
            return pid_exists(int(pid))
        return self.live().filter(hostname=hostname, pid=int(pid)).exists()


class WorkerProcess(models.Model):
    """A worker process and the model it has loaded, as it last reported.

    Written by each worker process when it starts, loads a model and beats;
    read by readiness checks, metrics, the sweeper and shown in the admin.
    """

    class Role(models.TextChoices):
        CLASSIFY = "classify", "Classify"
        TRAINING = "training", "Training"
        SWEEPER = "sweeper", "Sweeper"

    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLASSIFY)
    started_at = models.DateTimeField(null=True, blank=True)
    threads = models.PositiveSmallIntegerField(default=0, help_text="Threads the process lets its runtime use.")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    load_count = models.PositiveIntegerField(default=0)
    load_seconds = models.FloatField(default=0.0)
    warmup_seconds = models.FloatField(default=0.0)
    runtime = models.CharField(
        max_length=50, blank=True, help_text="What runs the model: onnxruntime, or tensorflow when no faster runtime matched Keras."
    )
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkerProcessQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "worker processes"
        constraints = [models.UniqueConstraint(fields=["hostname", "pid"], name="unique_worker_process")]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"

    @property
    def is_live(self) -> bool:
        """Beat within :data:`LIVE_BEATS` beats (as :meth:`WorkerProcessQuerySet.live` selects)."""
        return self.last_seen >= timezone.now() - timedelta(seconds=LIVE_BEATS * heartbeat_seconds())

    @property
    def worker_id(self) -> str:
        return f"{self.hostname}:{self.pid}"
