"""The frames one webcam socket has sent and not yet had answered: its back-pressure.

A socket may have ``WEBCAM_MAX_IN_FLIGHT`` frames waiting for their result;
more are refused as busy, so a client faster than the workers cannot fill
the queue. A slot must come back however the frame ends, not only when its
result is pushed: a push can be lost (a Redis that restarted, a worker that
died after saving), and without Redis nothing is pushed at all. So a slot is
freed when the frame's result is pushed, when the socket finds the frame
finished (done or failed) in the database, which it does whenever the slots
are full or the page polls, and when the frame has waited longer than
``WEBCAM_FRAME_TIMEOUT_SECONDS`` (the frame may still finish later; its
result then reaches the page by push, or by poll: a few timed-out frames are
remembered as late and still looked up).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from classification.models import Classification
from classification.serving.payloads import classification_payload


class FramesInFlight:
    """Public ids of the frames waiting for a result, each with the moment its slot expires."""

    def __init__(self, limit: int, timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.timeout_s, self.clock = limit, timeout_s, clock
        self._deadlines: dict[str, float] = {}
        self._late: deque[str] = deque(maxlen=4 * limit)  # timed out, holding no slot, still unanswered

    def __len__(self) -> int:
        return len(self._deadlines)

    def unanswered(self) -> list[str]:
        """Frames still waiting for a result: those in flight and the late ones."""
        return [*self._deadlines, *self._late]

    def full(self) -> bool:
        return len(self._deadlines) >= self.limit

    def add(self, public_id: str) -> None:
        self._deadlines[public_id] = self.clock() + self.timeout_s

    def free(self, public_id: str) -> bool:
        """The frame is answered: give its slot back; False when it held none (late, answered, or not ours)."""
        if public_id in self._late:
            self._late.remove(public_id)
        return self._deadlines.pop(public_id, None) is not None

    def expire(self) -> list[str]:
        """Free and return the frames that waited longer than the timeout."""
        now = self.clock()
        expired = [public_id for public_id, deadline in self._deadlines.items() if deadline <= now]
        for public_id in expired:
            del self._deadlines[public_id]
            self._late.append(public_id)
        return expired


def finished_payloads(public_ids: list[str]) -> list[dict]:
    """Payloads of those frames that are finished (done or failed), as a push would carry them."""
    if not public_ids:
        return []
    rows = Classification.objects.filter(
        public_id__in=public_ids, status__in=(Classification.Status.DONE, Classification.Status.FAILED)
    ).select_related("model_version")
    return [classification_payload(row) for row in rows]
