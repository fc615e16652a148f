"""The server's limits agree with the settings, against the real web process (uvicorn).

A webcam frame over the old 1 MiB server default but under the setting is
classified, one over the setting is refused with ``frame_too_large`` on an
open socket; a stalled or trickling request body is cut off; one address
cannot hold more uploads open than allowed; a chunked upload works; a
malformed socket message gets an error message, not a crash.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from urllib.parse import urlparse

import pytest
from PIL import Image

from classification.accounts import tokens
from classification.models import Classification
from classifier_site import request_bodies
from tests.conftest import image_bytes
from tests.test_webcam_browser import serve_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMITS = {
    "CLASSIFIER_WEBCAM_MAX_FRAME_BYTES": str(2 * 1024 * 1024),
    "CLASSIFIER_REQUEST_IDLE_TIMEOUT_SECONDS": "2",
    "CLASSIFIER_REQUEST_BODY_TIMEOUT_SECONDS": "5",
    "CLASSIFIER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS": "2",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup):
    """One web process for the module, on the test database (set up first, so it is the one it is given).

    It needs no model: nothing here waits for a classification.
    """
    directory = tmp_path_factory.mktemp("limits")
    with serve_web("http", directory, **LIMITS) as url:
        yield url, directory / "web.log"


def _jpeg_of_about(size: int) -> bytes:
    """A real JPEG a little over ``size`` bytes (noise does not compress)."""
    side = 400
    while True:
        buffer = io.BytesIO()
        Image.effect_noise((side, side), 100).convert("RGB").save(buffer, format="JPEG", quality=95)
        if len(buffer.getvalue()) > size:
            return buffer.getvalue()
        side += 100


def test_websocket_frames_up_to_the_setting_are_taken_and_bigger_ones_refused_on_an_open_socket(server, db):
    from websockets.sync.client import connect

    url, log = server
    ws_url = url.replace("http", "ws", 1)
    over_server_default = _jpeg_of_about(1024 * 1024 + 50_000)
    over_the_setting = over_server_default + b"\0" * (2 * 1024 * 1024 + 10 - len(over_server_default))
    with connect(ws_url + "/ws/webcam/", origin=url, max_size=None) as webcam:
        assert json.loads(webcam.recv(timeout=10))["type"] == "ready"
        webcam.send(over_server_default)
        assert json.loads(webcam.recv(timeout=30))["type"] == "accepted"
        webcam.send(over_the_setting)
        refused = json.loads(webcam.recv(timeout=30))
        assert (refused["type"], refused["code"]) == ("rejected", "frame_too_large")
        webcam.send("{not json")
        assert json.loads(webcam.recv(timeout=10))["code"] == "binary_expected"
        webcam.send(image_bytes())
        assert json.loads(webcam.recv(timeout=30))["type"] == "accepted"  # the socket is still open

    with connect(ws_url + "/ws/classifications/", origin=url) as feed:
        for message in ("{malformed", '{"type": "result"}', b"\x00\xff"):
            feed.send(message)
            answer = json.loads(feed.recv(timeout=10))
            assert (answer["type"], answer["code"]) == ("error", "unexpected_message")
    assert Classification.objects.count() == 2
    assert "Traceback" not in log.read_text()


def _partial_upload(url: str, path: str = "/api/v1/classifications/") -> socket.socket:
    address = urlparse(url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    connection.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: 100000\r\n\r\n--b\r\n".encode()
    )
    return connection


def _answer(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_stalled_and_trickling_bodies_are_cut_off(server):
    url, _ = server
    stalled = _partial_upload(url)
    started = time.monotonic()
    assert _answer(stalled) == b""  # closed by the idle timeout, with nothing to say
    assert 1.5 < time.monotonic() - started < 10

    trickling = _partial_upload(url)
    started = time.monotonic()
    trickling.settimeout(1)
    answer = b""
    while not answer and time.monotonic() - started < 20:
        trickling.sendall(b"x")  # a byte a second keeps the idle timer from firing
        try:
            answer = trickling.recv(65536)
        except TimeoutError:
            continue
    answer += _answer(trickling)  # the rest, up to the close: the body may come in a packet of its own
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert 4.5 < time.monotonic() - started < 12


def test_silent_connections_are_closed_but_slow_answers_and_quiet_sockets_are_not(server, django_user_model):
    from websockets.sync.client import connect

    url, _ = server
    address = urlparse(url)
    silent = socket.create_connection((address.hostname, address.port), timeout=30)
    started = time.monotonic()
    assert _answer(silent) == b""  # never sent a byte: closed by the idle timeout
    assert 1.5 < time.monotonic() - started < 10

    half_headers = socket.create_connection((address.hostname, address.port), timeout=30)
    half_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    assert _answer(half_headers).startswith(b"HTTP/1.1 408 ")  # stopped halfway through its headers
    assert 1.5 < time.monotonic() - started < 10

    # The server's turn is not timed: an upload waiting 4 s for a result (no worker runs here) is answered.
    key = tokens.create_token(django_user_model.objects.create_user("patient"), "test")[1]
    body = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="slow.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + image_bytes() + b"\r\n--b--\r\n")
    waiting = socket.create_connection((address.hostname, address.port), timeout=30)
    waiting.sendall(
        b"POST /api/v1/classifications/?wait=4 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n"
        + f"Authorization: Token {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    started = time.monotonic()
    answer = _answer(waiting)
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]
    assert time.monotonic() - started > 3.5

    with connect(url.replace("http", "ws", 1) + "/ws/classifications/", origin=url) as feed:
        time.sleep(3)  # longer than the idle timeout: an open socket is not an idle request
        feed.send("{malformed")
        assert json.loads(feed.recv(timeout=10))["code"] == "unexpected_message"


def test_headers_sent_slowly_or_without_end_are_refused(server):
    url, _ = server
    address = urlparse(url)
    trickling = socket.create_connection((address.hostname, address.port), timeout=30)
    trickling.settimeout(0.5)
    trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started, answer = time.monotonic(), b""
    while not answer and time.monotonic() - started < 15:
        trickling.sendall(b"X-Slow: a\r\n")  # a header line every half second keeps the idle timer from firing
        try:
            answer = trickling.recv(65536)
        except TimeoutError:
            continue
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 1.5 < time.monotonic() - started < 6

    endless = socket.create_connection((address.hostname, address.port), timeout=30)
    endless.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    endless.sendall(b"".join(b"X-Big: " + b"a" * 4096 + b"\r\n" for _ in range(17)))  # 70 KB, no end
    answer = _answer(endless)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]

    split = socket.create_connection((address.hostname, address.port), timeout=30)
    for piece in (b"GET /healthz HTTP/1.1\r\nHo", b"st: 127.0.0.1\r\nConnection: close\r\n", b"\r\n"):
        split.sendall(piece)
        time.sleep(0.3)
    assert _answer(split).startswith(b"HTTP/1.1 200 ")  # headers in several packets, in time: answered


def test_one_address_holds_at_most_the_allowed_uploads_open(server):
    url, _ = server
    held = [_partial_upload(url), _partial_upload(url, "/")]
    time.sleep(0.5)
    refused_api, refused_form = _answer(_partial_upload(url)), _answer(_partial_upload(url, "/"))
    assert refused_api.startswith(b"HTTP/1.1 429 ") and b"retry-after: 5" in refused_api.lower()
    assert json.loads(refused_api.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "too_many_uploads"
    assert json.loads(refused_form.split(b"\r\n\r\n", 1)[1])["rejected"][0]["code"] == "too_many_uploads"
    for connection in held:
        connection.close()
    time.sleep(0.5)
    again = _partial_upload(url)  # the slots are free again: this one is read, then answered by the API
    again.sendall(b"x" * (100000 - 5))
    assert _answer(again).startswith(b"HTTP/1.1 401 ")


def test_a_chunked_upload_is_classified_like_any_other(server, django_user_model):
    url, _ = server
    key = tokens.create_token(django_user_model.objects.create_user("chunky"), "test")[1]
    body = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="chunked.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + image_bytes() + b"\r\n--b--\r\n")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 500]), body[i:i + 500]) for i in range(0, len(body), 500))
    address = urlparse(url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    connection.sendall(
        b"POST /api/v1/classifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
        + f"Authorization: Token {key}\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
    )
    answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]
    [accepted] = json.loads(answer.split(b"\r\n\r\n", 1)[1])["accepted"]
    assert Classification.objects.get(public_id=accepted["id"]).original_name == "chunked.jpg"


def test_a_chunked_body_over_what_an_upload_can_need_is_413(monkeypatch):
    monkeypatch.setattr(request_bodies, "max_body_bytes", lambda: 1000)
    reached = []

    async def app(scope, receive, send):
        reached.append(scope)

    sent = []
    messages = [{"type": "http.request", "body": b"x" * 600, "more_body": True},
                {"type": "http.request", "body": b"x" * 600, "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/api/v1/classifications/", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(request_bodies.LengthForChunkedBodies(app)(scope, receive, send))
    assert not reached and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_too_large"
