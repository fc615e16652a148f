"""The cameras dashboard and each camera's events timeline (signed-in users: their cameras; staff: all)."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from classification.cameras.health import health_payload
from classification.cameras.services import visible_cameras
from classification.events import selectors
from classification.events.payloads import event_payload
from classification.serving.payloads import classification_payload

TIMELINE_PAGE_SIZE = 50
RECENT_EVENTS = 5


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    tiles = []
    for camera in visible_cameras(request.user):
        frame = selectors.latest_frame(camera)
        tiles.append({
            "camera": camera,
            "health": health_payload(camera, getattr(camera, "state", None)),
            "frame": classification_payload(frame) if frame else None,
            "events": [event_payload(event) for event in selectors.camera_events(camera)[:RECENT_EVENTS]],
        })
    # The page's script draws each tile from this, and then from the pushes.
    # Frames are pushed with their stream name, so each tile carries it to find the frame's tile.
    tiles_json = {str(t["camera"].public_id): {**{key: value for key, value in t.items() if key != "camera"},
                                               "stream": t["camera"].stream} for t in tiles}
    return render(request, "classification/cameras.html", {"tiles": tiles, "tiles_json": tiles_json})


@require_GET
@login_required
def timeline(request: HttpRequest, public_id) -> HttpResponse:
    camera = get_object_or_404(visible_cameras(request.user), public_id=public_id)
    label = request.GET.get("label", "")
    day, error = _day(request.GET.get("date", ""))
    events = selectors.camera_events(camera, label=label, day=day)
    page = Paginator(events, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "camera": camera,
        "health": health_payload(camera, getattr(camera, "state", None)),
        "labels": selectors.camera_labels(camera),
        "filters": {"label": label, "date": day.isoformat()},
        "error": error,
        "page": page,
        "segments": selectors.day_segments(events, day),
    }
    return render(request, "classification/camera_timeline.html", context, status=400 if error else 200)


def _day(value: str) -> tuple[date, str]:
    today = timezone.localdate()
    if not value:
        return today, ""
    try:
        return date.fromisoformat(value), ""
    except ValueError:
        return today, f"{value!r} is not a date (YYYY-MM-DD); showing today."
