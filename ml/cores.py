"""The cores a process may really use, and how a worker shares them between its processes.

Pure Python (no TensorFlow, no numpy): the settings read :func:`default_pool_size`
in every process, the web process's included.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_pool_size(cores: int | None = None) -> int:
    """Classify processes a worker runs when ``CELERY_WORKER_CONCURRENCY`` is not set: two, or one on one core.

    One process leaves a core idle under load: its work around each model call
    (reading and checking the image, the queries, the push) is single-threaded,
    and the model waits for it. With two, one process's model call overlaps
    the other's work; on two cores the whole service delivered 0.53 of the
    model alone's throughput at ten clients against 0.47 with one (README,
    Performance, *Measured in rounds*). Each process gets cores ÷ 2 threads
    (:func:`threads_per_process`) and a copy of the model.
    """
    return min(2, cores or available_cores())


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """Threads each of ``processes`` processes may use, so that processes × threads ≤ cores."""
    cores = cores or available_cores()
    return max(1, cores // max(1, processes))


def available_cores() -> int:
    """The cores this process may really use: its CPU affinity, capped by the container's CPU quota.

    ``os.cpu_count()`` counts the host's cores; a container limited to two
    (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``) would otherwise run
    a thread per host core in every process and thrash.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, int(quota)) if quota else cores)


def cgroup_cpu_quota(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """CPUs the cgroup may use (quota / period), or None when unlimited or unknown."""
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
