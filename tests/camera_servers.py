"""Cameras on 127.0.0.1 for the tests: an MJPEG stream, a snapshot URL, a camera that never answers,
a real RTSP server, and an alert webhook receiver. Each runs until its context ends."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.conftest import REPO_DIR, SAMPLES_DIR

SIZE = (320, 240)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photo_frames(count: int = 4) -> list[bytes]:
    """JPEGs of the shared sample photos at 320×240 (drawn pictures when ../shared is absent)."""
    photos = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    frames = []
    for index in range(count):
        if index < len(photos):
            image = Image.open(photos[index]).convert("RGB").resize(SIZE)
        else:
            image = Image.new("RGB", SIZE, (40 + 50 * index, 120, 200 - 40 * index))
            ImageDraw.Draw(image).ellipse((60 + 30 * index, 40, 200 + 30 * index, 200), fill=(250, 250, 250))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class HttpCamera:
    """An MJPEG stream at /stream.mjpg and a snapshot at /snapshot.jpg; ``stop()`` and ``start()`` it at will."""

    frames: list[bytes]
    fps: float = 5.0
    username: str = ""
    password: str = ""
    port: int = field(default_factory=free_port)
    served: int = 0
    requests: int = 0
    _server: _Server | None = None
    _running: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                camera.requests += 1
                if camera.username and not self._authorized():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.end_headers()
                    return
                if self.path == "/snapshot.jpg":
                    frame = camera.frames[camera.served % len(camera.frames)]
                    camera.served += 1
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(frame)))
                    self.end_headers()
                    self.wfile.write(frame)
                elif self.path == "/stream.mjpg":
                    self._stream()
                else:
                    self.send_error(404)

            def _authorized(self) -> bool:
                expected = base64.b64encode(f"{camera.username}:{camera.password}".encode()).decode()
                return self.headers.get("Authorization") == f"Basic {expected}"

            def _stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while camera._running.is_set():
                        frame = camera.frames[index % len(camera.frames)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(frame)}\r\n\r\n".encode() + frame + b"\r\n")
                        self.wfile.flush()
                        camera.served += 1
                        index += 1
                        time.sleep(1 / camera.fps)
                except OSError:
                    pass

        self._running.set()
        self._server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Gone, as a camera that lost power: streams end and new connections are refused."""
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def http_camera(frames: list[bytes], **options):
    camera = HttpCamera(frames, **options)
    camera.start()
    try:
        yield camera
    finally:
        camera.stop()


@contextmanager
def silent_camera():
    """Accepts connections and never says a word: the hanging camera."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], held
    finally:
        stop.set()
        for conn in held:
            conn.close()
        listener.close()


RTSP_PYTHON = "/usr/bin/python3"


@contextmanager
def rtsp_camera(frames: list[bytes], tmp_path: Path, fps: int = 5, keyint: int = 10):
    """GStreamer's RTSP server streaming H.264 made from ``frames``; yields its rtsp:// URL."""
    check = subprocess.run([RTSP_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
                           capture_output=True)
    if check.returncode or not shutil.which("gst-inspect-1.0"):
        pytest.fail("GStreamer's RTSP server is missing; `make test` installs gir1.2-gst-rtsp-server-1.0 and friends")
    folder = tmp_path / "rtsp-frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        (folder / f"{index:03d}.jpg").write_bytes(frame)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    process = subprocess.Popen(
        [RTSP_PYTHON, str(REPO_DIR / "tests" / "rtsp_server.py"), str(port), str(folder / "%03d.jpg"), str(fps),
         str(keyint)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("ready"), f"the RTSP server did not start: {line}{process.stdout.read()[-2000:]}"
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class WebhookReceiver:
    """Receives alert webhooks, checks each signature as a receiver would, and counts them."""

    secret: str
    status: int = 200
    port: int = field(default_factory=free_port)
    received: list[dict] = field(default_factory=list)
    bad_signatures: int = 0
    attempts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def webhook_receiver(secret: str, status: int = 200):
    from classification.alerts.signing import DELIVERY_HEADER, SIGNATURE_HEADER, verify

    receiver = WebhookReceiver(secret, status)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.attempts += 1
            if not verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, "")):
                receiver.bad_signatures += 1
                self.send_response(401)
            elif receiver.status == 200:
                receiver.received.append({"delivery": self.headers.get(DELIVERY_HEADER), **json.loads(body)})
                self.send_response(200)
            else:
                self.send_response(receiver.status)
            self.end_headers()

    server = _Server(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
