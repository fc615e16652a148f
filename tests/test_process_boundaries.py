"""TensorFlow stays where it belongs: never in the web process, never in a prefork parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from classification.models import WorkerProcess
from tests.conftest import REPO_DIR, image_bytes, child_process_env, wait_until_finished

WEB_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import django
    from django.core.management import call_command
    from django.test import Client
    from django.core.files.uploadedfile import SimpleUploadedFile

    django.setup()
    import classifier_site.asgi  # the ASGI app the web process serves
    call_command("migrate", verbosity=0)
    from classification.registry import versions
    from tests.conftest import image_bytes
    versions.import_bundle(sys.argv[1], activate_now=True)

    client = Client()
    pages = [client.get(path).status_code for path in ("/", "/history/", "/classifications/status.json?ids=00000000-0000-0000-0000-000000000001")]
    upload = client.post("/", {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]},
                         HTTP_ACCEPT="application/json")
    from classifier_site.celery import app
    app.control.purge()  # nobody consumes this throwaway queue
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
    print(json.dumps({"pages": pages, "upload": upload.status_code, "loaded": loaded[:5]}))
    """
)


def test_web_process_never_imports_tensorflow(tmp_path, tiny_bundle):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "classifier_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "CELERY_QUEUE": "test-web-process-only",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS_SCRIPT, str(tiny_bundle)],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pages"] == [200, 200, 200]
    assert report["upload"] == 202
    assert report["loaded"] == []


def _maps_tensorflow(pid: int) -> bool:
    """Whether TensorFlow's native library is mapped into a process."""
    return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_prefork_worker_loads_in_the_child_and_classifies(client, active_tiny_model):
    """The deployed shape: a prefork parent without TensorFlow, a child that loaded it at start.

    The child keeps its database connection in its pool between tasks: the
    first task's PostgreSQL backend serves every later one (libpq names them by PGAPPNAME).
    """
    env = {**child_process_env(), "PGAPPNAME": "prefork-pool-check"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "classifier_site", "worker", "--pool=prefork",
         "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        status = _wait_for_worker_status(timeout=120)
        assert status.pid != process.pid
        assert status.load_count == 1
        assert status.model_version_id == active_tiny_model.pk

        backends = []
        for n in range(4):
            response = client.post(
                reverse("upload"),
                {"files": [SimpleUploadedFile(f"fork-{n}.jpg", image_bytes(), "image/jpeg")]},
                HTTP_ACCEPT="application/json",
            )
            [row] = wait_until_finished([response.json()["accepted"][0]["id"]], timeout=60)
            assert row.status == "done", row.error_message
            backends.append(_backends_named("prefork-pool-check"))
        assert backends[0], "the worker returned no connection to a pool after its task"
        # The heartbeat thread borrows a pooled connection too; when a beat overlaps a task the pool
        # keeps a second one. What must not happen is a task's connection closed and replaced.
        assert all(backends[0] <= pids for pids in backends), backends
        assert all(len(pids) <= 2 for pids in backends), backends

        assert _maps_tensorflow(status.pid)
        assert not _maps_tensorflow(process.pid), "the prefork parent imported TensorFlow"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "Loaded model tiny-test-model" in output


def _backends_named(application_name: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return {pid for (pid,) in cursor.fetchall()}


def _wait_for_worker_status(timeout: float) -> WorkerProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = WorkerProcess.objects.exclude(pid=os.getpid()).filter(load_count__gte=1).first()
        if status is not None:
            return status
        time.sleep(0.25)
    raise AssertionError("no worker process reported a loaded model")
