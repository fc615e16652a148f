"""The README's run command: starts everything, classifies, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.conftest import REPO_DIR, image_bytes, self_signed_certificate

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(tmp_path, tiny_bundle, redis_url: str, extra_env: dict):
    port = _free_port()
    env = {
        **extra_env,
        **os.environ,
        "PORT": str(port),
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"test-run-{port}",
        "CLASSIFIER_DEFAULT_MODEL_DIR": str(tiny_bundle),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["bash", "scripts/run.sh"], cwd=REPO_DIR, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        lines.append(line)
        match = re.search(r"running at (https?://\S+/)", line)
        if match:
            return process, match.group(1), lines
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError("the service did not start:\n" + "".join(lines[-40:]))


def _classify_one(base_url: str) -> dict:
    session = requests.Session()
    session.trust_env = False  # a CA bundle from the environment would override verify=False
    session.verify = False  # a self-signed certificate in the HTTPS case
    deadline = time.monotonic() + 60
    while True:  # daphne binds a moment after the banner
        try:
            page = session.get(base_url, timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert page.status_code == 200 and "Classify photos" in page.text
    response = session.post(
        base_url,
        files={"files": ("photo.jpg", image_bytes(), "image/jpeg")},
        headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"], "Referer": base_url},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    classification_id = response.json()["accepted"][0]["id"]
    while time.monotonic() < deadline + 60:
        polled = session.get(f"{base_url}classifications/status.json", params={"ids": classification_id}).json()
        result = polled["classifications"][0]
        if result["status"] in ("done", "failed"):
            return result
        time.sleep(0.3)
    raise AssertionError("the upload was never classified")


def _stop_with_ctrl_c(process) -> str:
    pgid = os.getpgid(process.pid)
    os.killpg(pgid, signal.SIGINT)  # what a terminal sends to the foreground group
    output, _ = process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(pgid), "Ctrl-C left processes running"
    return output


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize(
    "redis_url, https", [("redis://127.0.0.1:6379/12", True), ("", False)], ids=["redis-https", "no-redis-fallback-http"]
)
def test_run_command_serves_classifies_and_stops_on_ctrl_c(tmp_path, tiny_bundle, redis_url, https):
    tls = self_signed_certificate(tmp_path) if https else {}
    process, base_url, lines = _start(tmp_path, tiny_bundle, redis_url, tls)
    assert base_url.startswith("https://" if https else "http://")
    try:
        result = _classify_one(base_url)
    finally:
        output = _stop_with_ctrl_c(process)
    log = "".join(lines) + output
    assert result["status"] == "done", log[-3000:]
    assert result["predicted_label"] in ("human", "no_human", "uber_eats")
    assert "Imported and activated" in log
    assert "Loaded model tiny-test-model" in log
