"""Grouping classified frames into events, one source at a time.

A finished frame joins its source's latest event when it has the same label
and follows it closely (within ``EVENT_MAX_GAP_SECONDS``, or three capture
intervals of a slow camera); otherwise it starts a new event. The worker calls
:func:`record_results` after each batch, and the capture side
:func:`count_repeat` for a frame it did not store. Both lock the source's
latest event (``SELECT … FOR UPDATE`` on PostgreSQL), so two workers finishing
frames of one camera at once cannot split or double-count an event, and both
are safe to run twice: a frame that already has its event is left alone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from classification.alerts import rules
from classification.events.payloads import EVENT_PUSH, event_payload
from classification.models import Camera, Classification, Event
from classification.serving.notifications import push_to_group

logger = logging.getLogger(__name__)


def camera_id_of(stream: str) -> int | None:
    kind, _, ident = stream.partition(":")
    return int(ident) if kind == "camera" and ident.isdigit() else None


def record_results(rows: Iterable[Classification]) -> list[Event]:
    """Put each finished frame of a watched source into its event; uploads and failures are skipped."""
    frames = sorted(
        (row for row in rows if row.stream and row.event_id is None and row.status == Classification.Status.DONE),
        key=lambda row: (row.created_at, row.pk),
    )
    events = []
    for row in frames:
        try:
            event = _record(row)
        except Exception:
            logger.exception("Could not record frame %s in an event", row.pk)
            continue
        if event is not None:
            events.append(event)
            rules.frame_counted(event, confidence=row.confidence or 0.0, frame=row)
            _push(event)
    return events


def count_repeat(stream: str, last_stored_id: int | None) -> Event | None:
    """Count a frame that repeats the last stored one in that frame's event; None when it cannot be.

    It can when the last stored frame is classified and is still its source's
    latest event's newest frame, within the gap: the repeat then shows the
    same thing, so it carries that frame's label and confidence.
    """
    if last_stored_id is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        event = _latest(stream)
        if event is None or event.last_frame_id != last_stored_id or now - event.ended_at > _gap(stream):
            return None
        Event.objects.filter(pk=event.pk).update(frame_count=F("frame_count") + 1, ended_at=now)
        event.refresh_from_db()
    frame = Classification.objects.filter(pk=last_stored_id).first()
    rules.frame_counted(event, confidence=frame.confidence if frame else event.peak_confidence, frame=frame)
    _push(event)
    return event


def _record(row: Classification) -> Event | None:
    with transaction.atomic():
        if Classification.objects.filter(pk=row.pk, event__isnull=False).exists():
            return None  # a redelivered task: already counted
        event = _latest(row.stream)
        confidence = row.confidence or 0.0
        if event is not None and event.label == row.predicted_label and row.created_at - event.ended_at <= _gap(row.stream):
            event.frame_count += 1
            event.stored_count += 1
            if row.created_at >= event.ended_at:
                event.ended_at, event.last_frame = row.created_at, row
            if confidence > event.peak_confidence:
                event.peak_confidence, event.best_frame = confidence, row
            event.save(update_fields=["frame_count", "stored_count", "ended_at", "last_frame", "peak_confidence",
                                      "best_frame"])
        else:
            camera = Camera.objects.filter(pk=camera_id_of(row.stream)).only("owner_id").first()
            event = Event.objects.create(
                stream=row.stream, source=row.source, camera=camera,
                owner_id=camera.owner_id if camera else row.submitted_by_id, label=row.predicted_label, started_at=row.created_at, ended_at=row.created_at,
                frame_count=1, stored_count=1, peak_confidence=confidence, best_frame=row, last_frame=row,
            )
        Classification.objects.filter(pk=row.pk).update(event=event)
        row.event = event
    return event


def _latest(stream: str) -> Event | None:
    return Event.objects.select_for_update().filter(stream=stream).order_by("-ended_at", "-id").first()


def _gap(stream: str) -> timedelta:
    """How far apart two frames of one event may be: the setting, or three intervals of a slower camera."""
    seconds = settings.CLASSIFIER["EVENT_MAX_GAP_SECONDS"]
    camera_id = camera_id_of(stream)
    if camera_id is not None:
        interval = Camera.objects.filter(pk=camera_id).values_list("interval_seconds", flat=True).first()
        seconds = max(seconds, 3 * (interval or 0))
    return timedelta(seconds=seconds)


def _push(event: Event) -> None:
    if event.camera_id is not None:
        push_to_group(f"camera.{event.camera_id}", {"type": EVENT_PUSH, "camera": str(event.camera.public_id),
                                                     "event": event_payload(event)})
