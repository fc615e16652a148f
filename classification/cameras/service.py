"""The capture service: leases cameras and runs a capture thread for each one it holds.

Any number of capture processes may run (``docker compose up --scale
capture=3``); the leases (:mod:`.leases`) give each enabled camera to exactly
one of them. Every ``lease / 3`` seconds a capturer renews its leases, stops
the threads of cameras it lost, that were disabled or deleted or whose
settings changed, and takes cameras nobody holds, up to
``CAPTURE_MAX_CAMERAS``. Stopped cleanly (SIGTERM, Ctrl-C) it gives its
cameras back at once; killed, its leases expire and another capturer takes
over within ``CAPTURE_LEASE_SECONDS``.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection

from classification.cameras import leases
from classification.cameras.capture import CameraCapture
from classification.models import Camera

logger = logging.getLogger(__name__)

#: How often a waiting service looks whether it was asked to stop.
STOP_CHECK_SECONDS = 0.2


class CaptureService:
    def __init__(self, *, holder: str | None = None, lease_seconds: float | None = None,
                 max_cameras: int | None = None):
        options = settings.CLASSIFIER
        self.holder = holder or leases.new_holder_id()
        self.lease_seconds = lease_seconds or options["CAPTURE_LEASE_SECONDS"]
        self.max_cameras = options["CAPTURE_MAX_CAMERAS"] if max_cameras is None else max_cameras
        self.threads: dict[int, CameraCapture] = {}
        self.stop_requested = False

    def run(self) -> None:
        """Until :meth:`stop`: keep the leases and threads current."""
        logger.info("Capture service %s started (lease %.0f s, up to %s cameras)",
                    self.holder, self.lease_seconds, self.max_cameras)
        try:
            while not self.stop_requested:
                try:
                    self.tick()
                except Exception:
                    logger.exception("Capture service: a round of lease keeping failed; trying again")
                finally:
                    connection.close()
                self._pause(self.lease_seconds / 3)
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask :meth:`run` to end (within :data:`STOP_CHECK_SECONDS`); safe in a signal handler.

        It takes no lock: a handler that set a ``threading.Event`` held the
        Event's lock when a second signal came (Ctrl-C, then ``make run``'s
        TERM to the group), and the second handler waited for it for ever.
        """
        self.stop_requested = True

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_requested and time.monotonic() < deadline:
            time.sleep(min(STOP_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))

    def tick(self) -> None:
        held = leases.renew(self.holder, list(self.threads), self.lease_seconds)
        cameras = {camera.pk: camera for camera in Camera.objects.filter(pk__in=list(self.threads)).select_related("owner")}
        for camera_id, thread in list(self.threads.items()):
            camera = cameras.get(camera_id)
            reason = (
                "lease lost" if camera_id not in held
                else "deleted" if camera is None
                else "disabled" if not camera.enabled
                else "settings changed" if camera.updated_at != thread.camera.updated_at
                else "thread ended" if not thread.is_alive()
                else None
            )
            if reason:
                self._drop(camera_id, reason, release=camera_id in held)
        room = self.max_cameras - len(self.threads)
        if room > 0:
            for camera_id in leases.acquire(self.holder, leases.unheld_enabled_cameras(), room, self.lease_seconds):
                self._start(camera_id)

    def _start(self, camera_id: int) -> None:
        camera = Camera.objects.select_related("owner").filter(pk=camera_id, enabled=True).first()
        if camera is None:
            leases.release(self.holder, [camera_id])
            return
        thread = CameraCapture(camera)
        self.threads[camera_id] = thread
        thread.start()
        logger.info("Capturing camera %s (%s, %s every %g s)", camera.pk, camera.name, camera.url, camera.interval_seconds)

    def _drop(self, camera_id: int, reason: str, *, release: bool) -> None:
        thread = self.threads.pop(camera_id)
        thread.stop()
        if release:
            leases.release(self.holder, [camera_id])
        logger.info("Stopped capturing camera %s: %s", camera_id, reason)

    def shutdown(self) -> None:
        """Stop every thread and give the cameras back."""
        for thread in self.threads.values():
            thread.stop()
        for thread in self.threads.values():
            thread.join(timeout=settings.CLASSIFIER["CAPTURE_READ_TIMEOUT_SECONDS"] + 1)
        try:
            leases.release(self.holder, list(self.threads))
        finally:
            connection.close()
        self.threads.clear()
        logger.info("Capture service %s stopped", self.holder)
