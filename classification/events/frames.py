"""Frames of watched sources (cameras, browser webcam sessions) into the intake, near-duplicates left out.

Each source's sender keeps a :class:`StreamTracker`: the last frame it stored
and that picture's perceptual hash. A new frame within
``EVENTS_SIMILAR_BITS`` of it shows the same scene, so once the stored one is
classified it is only counted in that frame's event (same label, same
confidence) instead of being stored and classified again. Every other frame
goes through :func:`classification.intake.submission.submit_image`, like an
upload: the same validation, storage, queue and ownership.
``CLASSIFIER_EVENTS_KEEP_EVERY_FRAME`` stores them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from classification.events import recording
from classification.events.similarity import distance, dhash
from classification.intake import submission
from classification.models import Classification, Event


@dataclass
class StreamTracker:
    """What one source's sender remembers between frames."""

    stream: str
    last_stored_id: int | None = None
    last_hash: int | None = None


@dataclass
class FrameOutcome:
    stored: Classification | None = None  # the new row, queued for classification
    repeated_in: Event | None = None  # the event the frame was counted in, unstored


def accept_frame(
    data: bytes, tracker: StreamTracker, *, source: str, user=None, owner_key: str = "", notify_group: str = "",
    original_name: str = "",
) -> FrameOutcome:
    """Store and queue ``data``, or count it as a repeat; raises what ``submit_image`` raises for bad input."""
    options = settings.CLASSIFIER
    fingerprint = dhash(data, options["MAX_IMAGE_PIXELS"])
    if (
        not options["EVENTS_KEEP_EVERY_FRAME"]
        and fingerprint is not None
        and tracker.last_hash is not None
        and distance(fingerprint, tracker.last_hash) <= options["EVENTS_SIMILAR_BITS"]
    ):
        event = recording.count_repeat(tracker.stream, tracker.last_stored_id)
        if event is not None:
            return FrameOutcome(repeated_in=event)
    row = submission.submit_image(
        data=data, original_name=original_name, source=source, user=user, owner_key=owner_key,
        notify_group=notify_group, stream=tracker.stream,
    )
    tracker.last_stored_id, tracker.last_hash = row.pk, fingerprint
    return FrameOutcome(stored=row)
