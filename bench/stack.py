"""An isolated copy of the service for benchmarks: web (classifier_site.serve) and workers on 127.0.0.1.

It never touches a running service or a test run: its own PostgreSQL database
(``classifier_bench_<pid>``, or SQLite), Redis database 11 with queue, channel
and cache names carrying the benchmark's pid, and a temporary ``VAR_DIR``.
Every process it starts is in its own process group and is stopped (TERM,
then KILL) when the ``with`` block ends, as are the database, the Redis keys
and the folder. The benchmark process itself is configured the same way, so
it can read rows and results through Django.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from bench.common import REPO_DIR

BIN = Path(sys.executable).parent
REDIS_DB = 11  # the tests use 12 and 13, a service 0
POSTGRES = "postgres://postgres@127.0.0.1:5432"


class Stack:
    def __init__(self, *, bundle: Path, database: str = "postgres", env: dict[str, str] | None = None,
                 compile_model: bool = True):
        self.bundle = Path(bundle)
        self.database = database
        self.compile_model = compile_model
        self.id = f"bench-{os.getpid()}"
        self.var_dir = Path(tempfile.mkdtemp(prefix="classifier-bench-"))
        self.db_name = f"classifier_bench_{os.getpid()}"
        self.processes: list[subprocess.Popen] = []
        self.port: int | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_DEBUG": "false",  # as deployed; DEBUG also keeps every SQL query in memory
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1, no TLS proxy in front
            # Every simulated client comes from 127.0.0.1: per-address limits would stop the load itself.
            "CLASSIFIER_UPLOAD_RATE": "1000000/min",
            "CLASSIFIER_WEBCAM_FRAME_RATE": "1000000/min",
            "CLASSIFIER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS": "1000",
            "VAR_DIR": str(self.var_dir),
            "DATABASE_URL": f"{POSTGRES}/{self.db_name}" if database == "postgres" else f"sqlite:///{self.var_dir / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "CELERY_QUEUE": f"{self.id}-classify",
            "CHANNELS_PREFIX": f"{self.id}-asgi",
            "CACHE_PREFIX": f"{self.id}-cache",
            "PYTHONPATH": str(REPO_DIR),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **(env or {}),
        }

    # --- set-up and tear-down -------------------------------------------------------------

    def __enter__(self) -> "Stack":
        signal.signal(signal.SIGTERM, _raise_interrupt)  # so a killed benchmark still cleans up
        try:
            self._create_database()
            os.environ.update(self.env)
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            from classification.registry import versions

            self.version = versions.import_bundle(self.bundle, activate_now=True)
            if self.compile_model:
                # As the registry task does in a deployment: workers then serve the ONNX export, as they would
                # there, not Keras (4x the CPU per image); no serving process ever compiles.
                from classification.registry import compiling

                self.version = compiling.compile_version(self.version.pk) or self.version
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            self._stop(process)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        self._drop_database()
        self._delete_redis_keys()
        self._keep_logs()
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def _keep_logs(self) -> None:
        """The processes' logs outlive the folder: bench/results/logs/ (git-ignored)."""
        from bench.common import RESULTS_DIR

        target = RESULTS_DIR / "logs"
        target.mkdir(parents=True, exist_ok=True)
        for log in self.var_dir.glob("*.log"):
            shutil.copyfile(log, target / log.name)

    def _create_database(self) -> None:
        if self.database != "postgres":
            return
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
            connection.execute(f'CREATE DATABASE "{self.db_name}"')

    def _drop_database(self) -> None:
        if self.database != "postgres":
            return
        import psycopg

        try:
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except Exception as exc:
            print(f"Could not drop the benchmark database {self.db_name}: {exc}", file=sys.stderr)

    def _delete_redis_keys(self) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        keys = list(client.scan_iter(match=f"*{self.id}*", count=1000))
        if keys:
            client.delete(*keys)

    # --- processes ---------------------------------------------------------------------------

    def start_worker(self, concurrency: int = 1, env: dict[str, str] | None = None, log_name: str = "worker", *,
                     hostname: str = "", queues: str = "", pool: str = "prefork",
                     extra_args: Sequence[str] = (), cluster_events: bool = False) -> subprocess.Popen:
        """A prefork worker on this stack's queue (or ``queues``), as scripts/run.sh starts it.

        Without Celery's gossip, mingle and event heartbeats unless ``cluster_events``: a worker that
        compose or scripts/run.sh starts has them (mingle asks the workers already up for their state).
        """
        quiet = () if cluster_events else ("--without-gossip", "--without-mingle", "--without-heartbeat")
        log = open(self.var_dir / f"{log_name}.log", "a")
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "classifier_site", "worker", "--loglevel=INFO",
             f"--hostname={hostname or self.id + '@%h'}", f"--queues={queues or self.env['CELERY_QUEUE']}",
             f"--pool={pool}", f"--concurrency={concurrency}", *quiet, *extra_args],
            cwd=REPO_DIR, env={**self.env, "CELERY_WORKER_CONCURRENCY": str(concurrency), **(env or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        process.log_path = log.name
        self.processes.append(process)
        return process

    def wait_for_workers(self, count: int, since: float, timeout: float = 180.0):
        """The status rows of ``count`` worker processes that loaded the model after ``since``."""
        from datetime import datetime, timezone

        from classification.models import WorkerProcess

        moment = datetime.fromtimestamp(since, tz=timezone.utc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = list(WorkerProcess.objects.filter(last_seen__gte=moment, load_count__gte=1))
            if len(rows) >= count:
                return rows
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.2)
        raise RuntimeError(f"{count} worker process(es) did not load the model; see {self.var_dir}/worker.log")

    def start_web(self, server: str = "serve", source: Path | None = None, log_name: str = "web") -> str:
        """The web process, or another ASGI server (:data:`SERVERS`), on a free 127.0.0.1 port; returns its URL once it answers.

        ``source``: a checkout of another revision to serve instead of this one
        (``bench.web_cpu`` compares revisions in one run); same database and settings.
        """
        import requests

        self.port = _free_port()
        source = Path(source or REPO_DIR)
        log = open(self.var_dir / f"{log_name}.log", "a")
        env = {**self.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("BENCH_EXTRA_PATH")]))}
        process = subprocess.Popen(
            server_command(server, "127.0.0.1", self.port),
            cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        process.server, process.source = server, source
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return self.url
            except requests.RequestException:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{server} did not answer; see {self.var_dir}/{log_name}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, process: subprocess.Popen) -> None:
        self._stop(process)
        self.processes.remove(process)

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the group: a prefork worker's children too
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def purge_queue(self) -> None:
        from classifier_site.celery import app

        app.control.purge()


#: How each web server the benchmarks know is started. "serve" is the service's own web process (uvicorn with
#: the settings' limits); the others serve the same application bare, for comparison. ``BENCH_EXTRA_PATH``
#: may name a folder holding servers not installed in the environment (daphne, granian).
APPLICATION = "classifier_site.asgi:application"
SERVERS = {
    "serve": lambda host, port: [str(BIN / "python"), "-m", "classifier_site.serve", "--host", host, "--port", str(port)],
    "daphne": lambda host, port: [str(BIN / "python"), "-m", "daphne", "-b", host, "-p", str(port), APPLICATION],
    "uvicorn": lambda host, port: [str(BIN / "python"), "-m", "uvicorn", "--host", host, "--port", str(port),
                                   "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", APPLICATION],
    "granian": lambda host, port: [str(BIN / "python"), "-m", "granian", "--interface", "asginl", "--host", host,
                                   "--port", str(port), "--workers", "1", "--loop", "uvloop",
                                   "--log-level", "warning", APPLICATION],
}


def server_command(server: str, host: str, port: int) -> list[str]:
    if server not in SERVERS:
        raise ValueError(f"Unknown ASGI server {server!r}; one of {', '.join(SERVERS)}.")
    return SERVERS[server](host, port)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def light_bundle(directory: Path) -> Path:
    """The demo bundle when it is there, else a random-weights MobileNetV2 of the same shape."""
    demo = REPO_DIR / "ml" / "demo_model"
    if (demo / "metadata.json").is_file() and (demo / "model.keras").is_file():
        return demo
    from ml.architectures import build_model
    from ml.bundle import BundleMetadata, save_bundle

    metadata = BundleMetadata(
        name="bench-mobilenet_v2", architecture="mobilenet_v2", class_names=["human", "no_human", "uber_eats"],
        input_size=224, preprocessing="mobilenet", description="Random weights, for benchmarks.",
    )
    return save_bundle(build_model("mobilenet_v2", 3, 224, weights=None), metadata, directory / "bundle")
