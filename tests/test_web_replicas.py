"""Two web processes behind the real proxy (deploy/Caddyfile), sharing the Redis channel layer.

The proxy takes turns between the replicas for requests and websocket
upgrades alike; an upload made through either one is classified, and its
result is pushed to the owner's sockets on both replicas; a webcam frame sent
to either replica comes back as a result on the socket that sent it, though
the worker knows nothing of which process holds it.
"""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
import requests

from classification.models import Classification
from tests.conftest import image_bytes, wait_until_finished
from tests.proxy_stack import REPLICA_HOSTS, web_replicas_behind_proxy

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _lines(log, pattern: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if re.search(pattern, line)]


def _upload(session: requests.Session, url: str) -> str:
    response = session.post(
        url + "/", files={"files": ("photo.jpg", image_bytes(), "image/jpeg")},
        headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"]}, timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["accepted"][0]["id"]


def _results(socket, wanted: set[str], timeout: float = 60) -> set[str]:
    """Ids of pushed results on ``socket`` until every wanted one came (other results are ignored)."""
    seen = set()
    while not wanted <= seen:
        message = json.loads(socket.recv(timeout=timeout))
        if message["type"] == "result":
            seen.add(message["classification"]["id"])
    return seen


def _connect_on_each_replica(sockets_open: contextlib.ExitStack, url: str, path: str, logs: dict, **options) -> list:
    """Open one socket through the proxy per replica, checking from the access logs which took each.

    Each closes when ``sockets_open`` does.
    """
    from websockets.sync.client import connect

    sockets = []
    accepted = re.escape(f'"WebSocket {path}" [accepted]')  # uvicorn's line for an accepted socket
    for _ in REPLICA_HOSTS:
        before = {host: len(_lines(log, accepted)) for host, log in logs.items()}
        sockets.append(sockets_open.enter_context(connect(url.replace("http", "ws", 1) + path, origin=url, **options)))
        deadline = time.monotonic() + 5  # the line is written as the socket is accepted: a moment after the handshake
        while not (gained := [host for host, log in logs.items()
                              if len(_lines(log, accepted)) > before[host]]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(gained) == 1, gained
    holders = {host for host, log in logs.items() if _lines(log, accepted)}
    assert holders == set(REPLICA_HOSTS), "the proxy sent both sockets to one replica"
    return sockets


def test_uploads_and_pushes_work_whichever_replica_holds_the_socket(active_tiny_model, celery_worker, tmp_path):
    with web_replicas_behind_proxy(tmp_path) as (url, logs), contextlib.ExitStack() as sockets_open:
        session = requests.Session()
        session.trust_env = False
        assert session.get(url + "/", timeout=30).status_code == 200
        first = _upload(session, url)  # gives this visitor an owner key: the live feed follows it
        wait_until_finished([first])
        cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.items())

        feeds = _connect_on_each_replica(sockets_open, url, "/ws/classifications/", logs, additional_headers={"Cookie": cookie})
        uploads = {_upload(session, url), _upload(session, url)}  # one after the other: one per replica
        for host, log in logs.items():
            assert len(_lines(log, r'"POST / HTTP')) >= 1, f"{host} took no upload"
        for feed in feeds:
            assert _results(feed, uploads) >= uploads

        webcams = _connect_on_each_replica(sockets_open, url, "/ws/webcam/", logs, additional_headers={"Cookie": cookie})
        for webcam in webcams:
            assert json.loads(webcam.recv(timeout=10))["type"] == "ready"
            webcam.send(image_bytes("JPEG", size=(320, 240)))
            accepted = json.loads(webcam.recv(timeout=30))
            assert accepted["type"] == "accepted", accepted
            assert _results(webcam, {accepted["classification"]["id"]}) == {accepted["classification"]["id"]}

    rows = Classification.objects.all()
    assert len(rows) == 5 and all(row.status == "done" for row in rows)
    assert {row.source for row in rows} == {"upload", "webcam"}
    for log in logs.values():
        assert "Traceback" not in log.read_text()
