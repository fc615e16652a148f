"""The chaos benchmark's clients: the upload form, the API and the webcam socket, uploading until told to stop.

Each client is a thread that uploads one image, notes what the service
answered, waits ``pace_s`` (± half) and uploads the next, whatever happens to
the service meanwhile: a refused or broken request is counted and the client
carries on, as people do. What the service accepted is noted by public id with
the client's kind, so the benchmark can check each row at the end.

* form: signs in with a password (session cookie, CSRF token) and posts the
  upload form as a browser's script does (``Accept: application/json``);
* api: ``POST /api/v1/classifications/`` with a token;
* webcam: a websocket on ``/ws/webcam/``; sends a frame, waits for its
  ``accepted``, then for its pushed result (at most ``pace_s`` × 4) before the
  next frame; reconnects when the socket closes. The distinct results a
  socket sends for one frame are kept: two different ones (another status,
  finish time or label) are a second, independent finished-twice check.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests


@dataclass
class Tally:
    """What every client saw, shared by all (one lock)."""

    accepted: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> public id -> accepted at
    statuses: dict[str, Counter] = field(default_factory=dict)  # kind -> HTTP status (or socket outcome) -> count
    errors: dict[str, Counter] = field(default_factory=dict)  # kind -> error class -> count
    pushes: dict[str, set] = field(default_factory=dict)  # public id -> the distinct results its webcam socket sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, outcome, accepted_ids=()) -> None:
        now = time.time()
        with self.lock:
            self.statuses.setdefault(kind, Counter())[str(outcome)] += 1
            for public_id in accepted_ids:
                self.accepted.setdefault(kind, {})[public_id] = now

    def error(self, kind: str, exc: BaseException) -> None:
        with self.lock:
            self.errors.setdefault(kind, Counter())[type(exc).__name__] += 1

    def server_errors(self, kind: str) -> int:
        """5xx answers, and for sockets the server-side failures: close code 1011, an 'unavailable' refusal."""
        counts = self.statuses.get(kind, Counter())
        return sum(count for outcome, count in counts.items()
                   if outcome[:1] == "5" or outcome in ("close 1011", "rejected unavailable"))


def test_images(count: int = 32, seed: int = 0) -> list[bytes]:
    """Small JPEGs of random 8×6 blocks: each far from the others, so no webcam frame is taken for a repeat."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        blocks = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(blocks).resize((320, 240), Image.Resampling.NEAREST).save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


class Client(threading.Thread):
    kind = ""

    def __init__(self, url: str, tally: Tally, images: list[bytes], pace_s: float, stop: threading.Event, seed: int):
        super().__init__(name=f"{self.kind}-{seed}", daemon=True)
        self.url, self.tally, self.images, self.pace_s, self.stop_event = url, tally, images, pace_s, stop
        self.random = random.Random(seed)
        self.last = 0

    def image(self) -> bytes:
        """A random image, never the one just sent (a webcam takes a repeat for an unchanged scene)."""
        self.last = (self.last + self.random.randrange(1, len(self.images))) % len(self.images)
        return self.images[self.last]

    def pause(self) -> None:
        self.stop_event.wait(self.pace_s * self.random.uniform(0.5, 1.5))

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.one()
            except Exception as exc:  # a broken connection, a timeout: counted, and the client carries on
                self.tally.error(self.kind, exc)
                self.stop_event.wait(1.0)
            self.pause()

    def one(self) -> None:
        raise NotImplementedError

    def record(self, response: requests.Response) -> None:
        accepted = []
        if response.status_code == 202:
            accepted = [row["id"] for row in response.json()["accepted"]]
        self.tally.note(self.kind, response.status_code, accepted)


class FormClient(Client):
    kind = "form"

    def __init__(self, *args, username: str, password: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.username, self.password = username, password
        self.session: requests.Session | None = None

    def sign_in(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        login = self.url + "/account/login/"
        session.get(login, timeout=30).raise_for_status()
        answer = session.post(login, data={"username": self.username, "password": self.password,
                                           "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                              headers={"Referer": login}, timeout=30, allow_redirects=False)
        if answer.status_code != 302:
            self.tally.note(self.kind, f"{answer.status_code} (sign-in)")
            raise RuntimeError(f"sign-in answered {answer.status_code}")
        return session

    def one(self) -> None:
        if self.session is None:
            self.session = self.sign_in()
        response = self.session.post(
            self.url + "/", files={"files": ("photo.jpg", self.image(), "image/jpeg")},
            headers={"Accept": "application/json", "X-CSRFToken": self.session.cookies["csrftoken"],
                     "Referer": self.url + "/"},
            timeout=60,
        )
        self.record(response)


class ApiClient(Client):
    kind = "api"

    def __init__(self, *args, token: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Token {token}"

    def one(self) -> None:
        response = self.session.post(self.url + "/api/v1/classifications/",
                                     files={"files": ("photo.jpg", self.image(), "image/jpeg")}, timeout=60)
        self.record(response)


class WebcamClient(Client):
    kind = "webcam"

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        while not self.stop_event.is_set():
            try:
                with connect(self.url.replace("http", "ws", 1) + "/ws/webcam/", origin=self.url, max_size=None,
                             open_timeout=30, close_timeout=5) as socket:
                    ready = json.loads(socket.recv(timeout=30))
                    if ready.get("type") != "ready":
                        raise RuntimeError(f"the socket began with {ready}")
                    self.tally.note(self.kind, "opened")
                    self.frames(socket)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "none"
                self.tally.note(self.kind, f"close {code}")
            except Exception as exc:  # refused handshake, timeout: counted, then a new socket
                self.tally.error(self.kind, exc)
            self.stop_event.wait(1.0)

    def frames(self, socket) -> None:
        while not self.stop_event.is_set():
            socket.send(self.image())
            public_id = self.answer(socket)
            if public_id is not None:
                self.wait_for_result(socket, public_id, deadline=time.monotonic() + 4 * self.pace_s)
            self.pause()

    def answer(self, socket) -> str | None:
        """The accepted frame's public id (None when it was refused or taken for a repeat); pushes are noted meanwhile."""
        while True:
            message = json.loads(socket.recv(timeout=60))
            kind = message.get("type")
            if kind == "result":
                self.pushed(message)
            elif kind == "accepted":
                public_id = message["classification"]["id"]
                self.tally.note(self.kind, "accepted", [public_id])
                return public_id
            elif kind in ("rejected", "unchanged"):
                self.tally.note(self.kind, f"{kind} {message.get('code', '')}".strip())
                return None

    def wait_for_result(self, socket, public_id: str, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0 and not self.stop_event.is_set():
            try:
                message = json.loads(socket.recv(timeout=min(left, 1.0)))
            except TimeoutError:
                continue
            if message.get("type") == "result":
                self.pushed(message)
                if message["classification"]["id"] == public_id:
                    return

    def pushed(self, message: dict) -> None:
        result = message["classification"]
        with self.tally.lock:
            self.tally.pushes.setdefault(result["id"], set()).add(
                (result["status"], result.get("finished_at"), result.get("predicted_label"), result.get("confidence")))
