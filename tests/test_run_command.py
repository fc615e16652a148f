"""The README's run command: starts everything, classifies, and Ctrl-C stops it all.

Each test starts the whole service once (scripts/run.sh: migrations, the model, every worker; half a
minute on a 2-core machine) and checks several things on it, each with its own assertions: with
Redis, over HTTPS, it also loses nothing to a Redis restart; without Redis (the documented fallback),
over HTTP, the webcam page polls for its results.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.conftest import image_bytes, self_signed_certificate
from tests.running_service import free_port, start_service
from tests.test_webcam_browser import chromium, fake_camera_args

pytestmark = pytest.mark.slow

LABELS = ("human", "no_human", "uber_eats")


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


def assert_served_the_tiny_model(service, result: dict) -> None:
    assert result["status"] == "done", service.log[-3000:]
    assert result["predicted_label"] in LABELS
    assert "Imported and activated" in service.log
    assert "Loaded model tiny-test-model" in service.log


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_with_redis_over_https_it_classifies_loses_nothing_to_a_redis_restart_and_stops_on_ctrl_c(
    tmp_path, tiny_bundle, private_redis
):
    port, start_redis, stop_redis = private_redis
    service = start_service(
        tmp_path, tiny_bundle, f"redis://127.0.0.1:{port}/0", **self_signed_certificate(tmp_path),
        CLASSIFIER_STUCK_AFTER_SECONDS="3", CLASSIFIER_SWEEP_INTERVAL_SECONDS="1",
    )
    assert service.base_url.startswith("https://")
    try:
        session = service.session()
        [before] = service.wait_finished(session, [service.upload(session, "before.jpg")])

        # Redis restarted empty while uploads wait in the queue: the sweeper sends them again.
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

    assert_served_the_tiny_model(service, before)
    assert [row["status"] for row in after] == ["done"] * 3, service.log[-4000:]
    assert "Sweeper re-queued" in service.log


def test_without_redis_over_http_it_classifies_the_webcam_page_polls_and_it_stops_on_ctrl_c(tiny_bundle, tmp_path):
    service = start_service(tmp_path, tiny_bundle, "", CLASSIFIER_EVENTS_KEEP_EVERY_FRAME="true")
    assert service.base_url.startswith("http://")
    try:
        session = service.session()
        [result] = service.wait_finished(session, [service.upload(session)])

        # Nothing is pushed without Redis, so the webcam page polls for its results. More frames finish
        # than a socket may have in flight (two): each slot came back when its frame was found finished,
        # and no frame was refused as busy.
        with chromium(*fake_camera_args(tmp_path)) as browser:
            page = browser.new_page()
            page.goto(f"{service.base_url}webcam/")
            page.wait_for_selector("#connection:text('results polled')")
            page.fill("#interval", "2")
            page.click("#toggle")
            page.locator("#webcam-results [data-status=done]").nth(3).wait_for(timeout=90_000)
            page.click("#toggle")
            done = page.locator("#webcam-results [data-status=done]").count()
            message = page.text_content("#webcam-message")
    finally:
        service.stop_with_ctrl_c()

    assert_served_the_tiny_model(service, result)
    assert done >= 4
    assert message == "", message
