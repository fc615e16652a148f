"""The worker processes that serve models (and train, and sweep), as each last reported.

Each process beats (``classification.serving.heartbeats``): it upserts its row
every ``CLASSIFIER["HEARTBEAT_SECONDS"]``. A row not seen for
:data:`LIVE_BEATS` beats is a dead process's; readiness, metrics, the admin
and the sweeper count only live ones.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

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


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` of this machine started (Unix time, to within a second), or None when unknown.

    From /proc: its start in clock ticks since boot, plus the boot time (whole seconds).
    """
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[19])  # field 22, starttime
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


#: A process that started more than this after a claim is not the one that made it (boot time is whole seconds).
START_TOLERANCE_S = 1.0


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

    def is_alive(self, worker_id: str, claimed_at: datetime | None = None) -> bool:
        """Whether the process ``"hostname:pid"`` still runs (and, given ``claimed_at``, is the one that claimed then).

        On this host the process table decides (a killed process is dead at
        once, whatever its last beat said); elsewhere a live heartbeat does.
        An empty id (nobody holds the row) is not alive.

        A process that started after the claim is not its claimant, even with
        its id: a restarted container keeps its host name and numbers its
        processes from 1 again (so does a rebooted machine), so a new process
        (or thread) may well have the pid of one that died holding rows. Its
        heartbeat row tells when it started; here, so does the process table.
        """
        hostname, _, pid = worker_id.rpartition(":")
        if not hostname or not pid.isdigit():
            return False
        if claimed_at is not None and self.filter(hostname=hostname, pid=int(pid), started_at__gt=claimed_at).exists():
            return False
        if hostname == socket.gethostname():
            if not pid_exists(int(pid)):
                return False
            started = process_started_at(int(pid)) if claimed_at is not None else None
            return started is None or started <= claimed_at.timestamp() + START_TOLERANCE_S
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
