"""Running the capture service inside a test, and waiting on what it writes."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from django.db import connection

from classification.cameras.service import CaptureService


@contextmanager
def capture_service(**options):
    """The real capture service (leases, one thread per camera) in a thread of the test process."""
    service = CaptureService(**options)
    thread = threading.Thread(target=service.run, name="capture-service", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the capture service did not stop"


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = ""):
    """Poll ``predicate`` (which may use the ORM) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"timed out after {timeout} s waiting for {predicate}")
        connection.close()  # see fresh rows on the next poll
        time.sleep(interval)
