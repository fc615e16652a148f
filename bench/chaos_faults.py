"""The chaos benchmark's faults, and the pieces it owns so it may break them.

* :class:`PrivateRedis`: a Redis server of the benchmark's own, on its own
  port and without persistence, which the service under test uses for its
  broker, channel layer and cache; a restart loses everything in it, as a
  Redis without persistence does.
* :class:`Supervisor`: keeps the classify worker running as systemd or a
  container runtime would: when its parent process dies, whatever is left of
  its process group is killed and a new worker is started after a second.
* :class:`FaultInjector`: at random intervals, one fault after another (in a
  shuffled cycle, so each kind comes up as often): SIGKILL one pool process,
  SIGKILL the worker parent, restart Redis (down for a few seconds), terminate
  the service's PostgreSQL backends (``pg_terminate_backend``).
* :class:`FinishAudit`: a trigger the benchmark adds to the classifications
  table, logging every update that finishes a row (to done or failed, or that
  rewrites a finished row's ``finished_at``); a row logged twice was finished
  twice, whatever the service's code believes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_APPLICATION_NAME = "chaos-bench"  # the benchmark's own database sessions: never terminated


class PrivateRedis:
    def __init__(self, port: int):
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="chaos-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "a")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"the benchmark's Redis did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: what it had in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


class Supervisor:
    """Runs the classify worker through ``start()`` (a Popen in a process group of its own) and restarts it."""

    RESTART_DELAY_S = 1.0  # systemd's RestartSec, a container runtime's back-off: short

    def __init__(self, start, stop):
        self._start, self._stop = start, stop
        self.process = start()
        self.restarts = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def parent_pid(self) -> int:
        return self.process.pid

    def pool_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def _watch(self) -> None:
        while not self._halt.wait(0.3):
            with self._lock:
                if self.process.poll() is None:
                    continue
                try:  # pool processes orphaned by their parent's death: a supervisor kills the whole unit
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._stop(self.process)
            time.sleep(self.RESTART_DELAY_S)
            with self._lock:
                if not self._halt.is_set():
                    self.process = self._start()
                    self.restarts += 1

    def halt(self) -> None:
        self._halt.set()
        self._thread.join(timeout=10)


@dataclass
class Fault:
    kind: str
    at: float  # wall clock, as the rows' timestamps
    detail: str = ""


@dataclass
class FaultInjector:
    supervisor: Supervisor
    redis: PrivateRedis
    database: str
    mean_gap_s: float
    seed: int = 0
    kinds: tuple[str, ...] = ("pool_process", "worker_parent", "redis_restart", "postgres_backends")
    faults: list[Fault] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    KINDS = ("pool_process", "worker_parent", "redis_restart", "postgres_backends")

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        self._thread.join(timeout=60)

    def counts(self) -> dict[str, int]:
        return {kind: sum(fault.kind == kind for fault in self.faults) for kind in self.KINDS}

    def _run(self) -> None:
        cycle: list[str] = []
        while not self._halt.wait(self._random.uniform(0.5, 1.5) * self.mean_gap_s):
            if not cycle:
                cycle = list(self.kinds)
                self._random.shuffle(cycle)
            kind = cycle.pop()
            try:
                detail = getattr(self, kind)()
            except Exception as exc:  # a fault that could not be made is reported, not fatal
                self.skipped.append(f"{kind}: {exc!r}")
                continue
            if detail is None:
                self.skipped.append(f"{kind}: nothing to hit")
                cycle.append(kind)  # try it again next time
                continue
            print(f"  fault: {kind} {detail}", flush=True)

    def _record(self, kind: str, detail: str) -> str:
        self.faults.append(Fault(kind, time.time(), detail))
        return detail

    def pool_process(self) -> str | None:
        pids = self.supervisor.pool_pids()
        if not pids:
            return None
        pid = self._random.choice(pids)
        os.kill(pid, signal.SIGKILL)
        return self._record("pool_process", f"pid {pid}")

    def worker_parent(self) -> str:
        pid = self.supervisor.parent_pid()
        os.kill(pid, signal.SIGKILL)
        return self._record("worker_parent", f"pid {pid}")

    def redis_restart(self) -> str:
        down_s = self._random.uniform(1.0, 5.0)
        self.redis.kill()
        detail = self._record("redis_restart", f"down {down_s:.1f} s")
        time.sleep(down_s)
        self.redis.start()
        return detail

    def postgres_backends(self) -> str:
        terminated = terminate_backends(self.database)
        return self._record("postgres_backends", f"{terminated} terminated")


def terminate_backends(database: str) -> int:
    """``pg_terminate_backend`` of every connection to ``database`` but the benchmark's own."""
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True,
                         application_name=BENCH_APPLICATION_NAME) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
            [database, BENCH_APPLICATION_NAME],
        ).fetchall()
    return sum(1 for (done,) in rows if done)


class FinishAudit:
    """Logs every finishing update of a classification, from inside PostgreSQL (see the module docstring)."""

    def __init__(self, table: str):
        self.table = table

    def install(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE chaos_finishes (classification_id bigint NOT NULL, status varchar(10) NOT NULL,"
                " finished_at timestamptz, logged_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            cursor.execute(
                "CREATE FUNCTION chaos_log_finish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " INSERT INTO chaos_finishes (classification_id, status, finished_at)"
                " VALUES (NEW.id, NEW.status, NEW.finished_at); RETURN NULL; END $$"
            )
            for event, condition in (
                ("UPDATE", "NEW.status IN ('done', 'failed') AND (OLD.status IS DISTINCT FROM NEW.status"
                           " OR OLD.finished_at IS DISTINCT FROM NEW.finished_at)"),
                ("INSERT", "NEW.status IN ('done', 'failed')"),
            ):
                cursor.execute(
                    f"CREATE TRIGGER chaos_finish_{event.lower()} AFTER {event} ON {self.table} FOR EACH ROW"
                    f" WHEN ({condition}) EXECUTE FUNCTION chaos_log_finish()"
                )

    def finishes(self) -> dict[int, int]:
        """How many times each row was finished."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT classification_id, count(*) FROM chaos_finishes GROUP BY classification_id")
            return dict(cursor.fetchall())
