"""Faults against the real services: lost messages, a restarted Redis, failing storage, dying workers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from classification.intake import submission
from classification.serving import recovery
from classification.models import Classification
from tests.conftest import image_bytes, stored_files, child_process_env, solo_worker, wait_until_finished
from tests.running_service import free_port, start_service


@pytest.mark.django_db(transaction=True)
def test_sweeper_requeues_lost_work_and_gives_up_on_poison(active_tiny_model, settings):
    from classifier_site.celery import app

    lost = submission.submit_image(data=image_bytes(), original_name="lost.jpg")
    poison = submission.submit_image(data=image_bytes(color=(1, 2, 3)), original_name="poison.jpg")
    fresh = submission.submit_image(data=image_bytes(color=(4, 5, 6)), original_name="fresh.jpg")
    app.control.purge()  # their messages are gone, as after a Redis restart without persistence
    long_ago = timezone.now() - timedelta(seconds=settings.CLASSIFIER["STUCK_AFTER_SECONDS"] + 1)
    Classification.objects.filter(pk__in=[lost.pk, poison.pk]).update(created_at=long_ago)
    Classification.objects.filter(pk=poison.pk).update(attempts=settings.CLASSIFIER["MAX_ATTEMPTS"])

    with solo_worker():
        counts = recovery.requeue_stuck()
        [lost_row] = wait_until_finished([lost.pk])

    assert counts == {"requeued": 1, "failed": 1}
    assert (lost_row.status, lost_row.attempts) == ("done", 1)
    poison_row = Classification.objects.get(pk=poison.pk)
    assert poison_row.status == "failed" and "Gave up after 3 attempts" in poison_row.error_message
    assert Classification.objects.get(pk=fresh.pk).status == "queued"  # not stuck yet: left alone
    assert recovery.requeue_stuck() == {"requeued": 0, "failed": 0}  # a just re-queued row waits again


@pytest.mark.django_db
def test_storage_failing_mid_upload_leaves_no_row_and_no_file(active_tiny_model, monkeypatch):
    real_save = FileSystemStorage.save
    calls = []

    def save_then_fail(self, name, content, max_length=None):
        calls.append(name)
        if len(calls) == 2:  # the image was written; the thumbnail fails
            raise OSError("disk full")
        return real_save(self, name, content, max_length=max_length)

    monkeypatch.setattr(FileSystemStorage, "save", save_then_fail)
    before = stored_files()

    with pytest.raises(submission.ServiceUnavailable, match="could not be stored"):
        submission.submit_image(data=image_bytes(), original_name="a.jpg")

    assert len(calls) == 2
    assert not Classification.objects.exists()
    assert stored_files() == before  # the image written first was removed again


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own (no persistence) that the test may stop and start."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed")
    port = free_port()

    def start():
        subprocess.run(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", str(tmp_path), "--logfile", str(tmp_path / "redis.log")],
            check=True,
        )
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError("private redis did not start")

    def stop():
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        time.sleep(0.3)

    start()
    yield port, start, stop
    stop()


def _worker_tree(service, hostname_prefix: str) -> list[int]:
    """The pids of the run script's worker named ``hostname_prefix@…`` and its pool children."""
    result = subprocess.run(["pgrep", "-s", str(os.getsid(service.process.pid)), "-f", f"{hostname_prefix}@"],
                            capture_output=True, text=True)
    parents = [int(pid) for pid in result.stdout.split()]
    children = subprocess.run(["pgrep", "-P", ",".join(map(str, parents))], capture_output=True, text=True)
    return parents + [int(pid) for pid in children.stdout.split()]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_redis_restart_loses_no_classification(tmp_path, tiny_bundle, private_redis):
    port, start_redis, stop_redis = private_redis
    service = start_service(
        tmp_path, tiny_bundle, f"redis://127.0.0.1:{port}/0",
        CLASSIFIER_STUCK_AFTER_SECONDS="3", CLASSIFIER_SWEEP_INTERVAL_SECONDS="1",
    )
    try:
        session = service.session()
        [before] = service.wait_finished(session, [service.upload(session, "before.jpg")])
        classify_worker = _worker_tree(service, "classify")
        for pid in classify_worker:  # the worker stalls, so uploads stay queued
            os.kill(pid, signal.SIGSTOP)
        queued = [service.upload(session, f"queued-{i}.jpg", image_bytes(color=(i, 9, 9))) for i in range(3)]
        stop_redis()  # the queued messages die with it
        start_redis()
        for pid in classify_worker:
            os.kill(pid, signal.SIGCONT)
        after = service.wait_finished(session, queued, timeout=120)
    finally:
        service.stop_with_ctrl_c()

    assert before["status"] == "done"
    assert [row["status"] for row in after] == ["done"] * 3, service.log[-4000:]
    assert "Sweeper re-queued" in service.log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_task_the_task_is_delivered_again(client, active_tiny_model, settings):
    """SIGKILL of the pool process running a classification: acks_late + reject_on_worker_lost."""
    import io
    import sys

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from classification.models import WorkerProcess
    from tests.conftest import REPO_DIR

    env = child_process_env()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "classifier_site", "worker", "--pool=prefork", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not WorkerProcess.objects.exists():
            assert time.monotonic() < deadline, "the worker never loaded the model"
            time.sleep(0.1)
        first_child = WorkerProcess.objects.get().pid
        # A big image keeps the task busy long enough to be killed in the middle of it (a PNG: a JPEG
        # would be decoded at an eighth of its size, in draft mode).
        big = io.BytesIO()
        Image.linear_gradient("L").resize((6000, 6000)).convert("RGB").save(big, format="PNG")
        response = client.post("/", {"files": [SimpleUploadedFile("big.png", big.getvalue(), "image/png")]},
                               HTTP_ACCEPT="application/json")
        row_id = response.json()["accepted"][0]["id"]
        while Classification.objects.get(public_id=row_id).status != "running":
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.005)
        os.kill(first_child, signal.SIGKILL)

        [row] = wait_until_finished([row_id], timeout=120)
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)

    assert row.status == "done", row.error_message
    assert "WorkerLostError" in output or "exited prematurely" in output, output[-3000:]
    assert WorkerProcess.objects.exclude(pid=first_child).exists()  # a new pool process took over
