"""The whole service started the README's way (scripts/run.sh), for tests that need every process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import requests

from tests.conftest import REPO_DIR, image_bytes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class RunningService:
    process: subprocess.Popen
    base_url: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # a CA bundle from the environment would override verify=False
        session.verify = False  # a self-signed certificate in the HTTPS case
        deadline = time.monotonic() + 60
        while True:  # the web process binds a moment after the banner; its first answer can be slow on a busy machine
            try:
                page = session.get(self.base_url, timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert page.status_code == 200 and "Classify photos" in page.text
        return session

    def upload(self, session: requests.Session, name: str = "photo.jpg", data: bytes | None = None) -> int:
        response = session.post(
            self.base_url,
            files={"files": (name, data or image_bytes(), "image/jpeg")},
            headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"],
                     "Referer": self.base_url},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return response.json()["accepted"][0]["id"]

    def wait_finished(self, session: requests.Session, ids: list[int], timeout: float = 90) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = f"{self.base_url}classifications/status.json"
            rows = session.get(url, params={"ids": ",".join(map(str, ids))}, timeout=10).json()["classifications"]
            if len(rows) == len(ids) and all(row["status"] in ("done", "failed") for row in rows):
                return rows
            time.sleep(0.3)
        raise AssertionError(f"not finished within {timeout} s:\n{self.log[-3000:]}")

    def stop_with_ctrl_c(self) -> None:
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGINT)  # what a terminal sends to the foreground group
        self.process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(pgid), "Ctrl-C left processes running"


def start_service(var_dir, default_model_dir, redis_url: str, **extra_env: str) -> RunningService:
    """Start scripts/run.sh in its own session; its output is read continuously (no full pipe)."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "VAR_DIR": str(var_dir),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"test-run-{port}",
        "CLASSIFIER_DEFAULT_MODEL_DIR": str(default_model_dir),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["bash", "scripts/run.sh"], cwd=REPO_DIR, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    service = RunningService(process)
    started = threading.Event()

    def read():
        for line in process.stdout:
            service.lines.append(line)
            match = re.search(r"running at (https?://\S+/)", line)
            if match:
                service.base_url = match.group(1)
                started.set()

    threading.Thread(target=read, daemon=True).start()
    if not started.wait(timeout=120):
        os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        raise AssertionError("the service did not start:\n" + service.log[-3000:])
    return service
