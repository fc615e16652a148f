"""``manage.py capture`` as ``make run`` and compose run it: stopped by signals, however they come."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from classification.cameras.service import CaptureService
from tests.conftest import REPO_DIR, child_process_env


def test_a_stop_made_in_the_middle_of_another_returns():
    """What a second signal's handler does: call stop() at any line of a first stop() still running.

    A trace function makes that call at every line the first one runs (tracing is off inside the trace
    function, so the second call runs through). A stop() that took a lock (the Event it used to set)
    waits for ever for the lock its first call holds.
    """
    service = CaptureService(holder="test-holder", lease_seconds=30, max_cameras=1)
    interrupted_at = []

    def second_signal(frame, event, arg):
        if event == "line":
            interrupted_at.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            service.stop()
        return second_signal

    def first_signal():
        sys.settrace(second_signal)
        try:
            service.stop()
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=first_signal, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), f"a stop() made inside another never returned (after {interrupted_at})"
    assert interrupted_at, "the trace made no second call"
    assert service.stop_requested


@pytest.mark.django_db(transaction=True)

def test_ctrl_c_and_a_term_at_once_stop_the_capture_service():
    """A terminal's Ctrl-C reaches the whole group and ``make run``'s trap sends TERM right after it.

    The handler used to set a ``threading.Event``; the second signal, arriving while the first handler
    held the Event's lock, waited for that lock for ever and the service never stopped (seen in a
    suite run under load: ``py-spy dump`` showed two nested handlers in ``Event.set``). The race is narrow, so signal pairs keep coming until the service has exited (or 5 s).
    """
    process = subprocess.Popen(
        [sys.executable, "manage.py", "capture"], cwd=REPO_DIR, env=child_process_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert "running" in process.stdout.readline()
        time.sleep(0.3)  # into the wait between two rounds of lease keeping
        started = time.monotonic()
        try:
            while process.poll() is None and time.monotonic() - started < 5:
                os.kill(process.pid, signal.SIGINT)
                os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # gone between the check and the signal
        process.wait(timeout=20)
        # Signals that land after Python has put back the default handlers, as it exits, end it by the signal.
        assert process.returncode in (0, -signal.SIGINT, -signal.SIGTERM), process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
