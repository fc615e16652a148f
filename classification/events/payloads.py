"""The one JSON shape of an event, for the dashboard's pushes, its timeline and the API."""

from django.urls import reverse

from classification.models import Event, default_display_name

EVENT_PUSH = "camera.event"  # handled by the dashboard consumer's camera_event()


def event_payload(event: Event) -> dict:
    """``best_frame`` is addressed by its public id, like every classification a visitor sees."""
    best = event.best_frame.public_id if event.best_frame_id else None
    return {
        "id": event.pk,
        "stream": event.stream,
        "source": event.source,
        "camera": str(event.camera.public_id) if event.camera_id else None,
        "label": event.label,
        "label_name": event_label_name(event),
        "started_at": event.started_at.isoformat(),
        "ended_at": event.ended_at.isoformat(),
        "duration_seconds": round(event.duration_seconds, 1),
        "frame_count": event.frame_count,
        "stored_count": event.stored_count,
        "peak_confidence": event.peak_confidence,
        "best_frame": None if best is None else {
            "id": str(best),
            "detail_url": reverse("classification-detail", args=[best]),
            "thumbnail_url": reverse("classification-thumbnail", args=[best]),
            "image_url": reverse("classification-image", args=[best]),
        },
    }


def event_label_name(event: Event) -> str:
    """The name people read for an event's label: its best frame's model version's, else the default."""
    version = event.best_frame.model_version if event.best_frame_id else None
    return version.display_name(event.label) if version is not None else default_display_name(event.label)
