"""One camera's capture thread: connect, take a frame each interval, send it on, reconnect with backoff.

Each camera has a thread of its own, so a camera that is offline, slow or
hanging only ever delays itself; its reader bounds every wait by the connect
and read timeouts. Failures back off exponentially (1, 2, 4 … seconds, up to
``CAPTURE_BACKOFF_MAX_SECONDS``) and reset once a connection works. Database
connections go back to the pool after each unit of work: twenty idle
cameras must not hold twenty connections.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection

from classification.cameras import health
from classification.cameras.readers import CameraError, Limits, open_reader
from classification.events.frames import StreamTracker, accept_frame
from classification.intake.submission import ServiceUnavailable
from classification.intake.validation import ImageRejected
from classification.models import Camera, Classification

logger = logging.getLogger(__name__)


def limits() -> Limits:
    options = settings.CLASSIFIER
    return Limits(options["CAPTURE_CONNECT_TIMEOUT_SECONDS"], options["CAPTURE_READ_TIMEOUT_SECONDS"],
                  options["MAX_UPLOAD_BYTES"])


def _phase(camera_id: int) -> float:
    """A fraction of the interval, spread evenly over consecutive ids (the golden ratio's steps)."""
    return (camera_id * 0.6180339887) % 1.0


class CameraCapture(threading.Thread):
    """Captures one camera until :meth:`stop`; a camera whose settings change gets a new thread."""

    def __init__(self, camera: Camera):
        super().__init__(name=f"camera-{camera.pk}", daemon=True)
        self.camera = camera
        self.stopping = threading.Event()
        self.tracker = StreamTracker(camera.stream)
        self.frames_sent = 0
        self.decoded_frames = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                self._capture()
                failures = 0
            except CameraError as exc:
                failures += 1
                self._db(health.offline, self.camera, str(exc), failures)
                logger.warning("Camera %s (%s) is offline: %s", self.camera.pk, self.camera.url, exc)
            except Exception:
                failures += 1
                logger.exception("Camera %s: capture failed", self.camera.pk)
                self._db(health.offline, self.camera, "Capture failed unexpectedly; see the capture service's log.", failures)
            backoff = min(2 ** max(failures - 1, 0), settings.CLASSIFIER["CAPTURE_BACKOFF_MAX_SECONDS"])
            self.stopping.wait(backoff if failures else 0)
        connection.close()

    def _capture(self) -> None:
        camera = self.camera
        self._db(health.connecting, camera)
        reader = open_reader(camera.kind, camera.url, camera.username, camera.password, limits())
        try:
            self._db(health.online, camera)
            due, first = time.monotonic(), True  # the first frame at once: the dashboard shows it
            while not self.stopping.is_set():
                data = reader.frame(due, self.stopping)
                self.decoded_frames = reader.decoded_frames
                if data is None:
                    return
                # Then each camera keeps a phase of its own within the interval, so cameras started
                # together (a capturer's start) do not send their frames at the same moment forever.
                step = camera.interval_seconds * (1 + _phase(camera.pk) if first else 1)
                due, first = max(due + step, time.monotonic()), False
                self._db(self._send, data)
        finally:
            reader.close()

    def _send(self, data: bytes) -> None:
        try:
            accept_frame(
                data, self.tracker, source=Classification.Source.CAMERA, user=self.camera.owner,
                notify_group=self.camera.group, original_name=f"{self.camera.name}.jpg",
            )
        except ImageRejected as exc:
            raise CameraError(f"The camera sent a frame that is not a usable image: {exc.message}") from exc
        except ServiceUnavailable as exc:
            logger.warning("Camera %s: a frame could not be stored: %s", self.camera.pk, exc)
            return
        self.frames_sent += 1
        health.frame_taken(self.camera)

    @staticmethod
    def _db(function, *args):
        """Run ``function`` and hand the database connection back (to the pool) afterwards."""
        try:
            return function(*args)
        finally:
            connection.close()
