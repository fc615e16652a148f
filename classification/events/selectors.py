"""Reading events: a camera's timeline, and History's mix of uploads and events."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import F, QuerySet, Value
from django.utils import timezone

from classification.models import Camera, Classification, Event

WATCHED_SOURCES = (Classification.Source.CAMERA, Classification.Source.WEBCAM)


def camera_events(camera: Camera, *, label: str = "", day: date | None = None) -> QuerySet[Event]:
    """Events of ``camera``, newest first; ``day`` keeps those that overlap it (in the site's time zone)."""
    events = Event.objects.filter(camera=camera).select_related("best_frame", "camera")
    if label:
        events = events.filter(label=label)
    if day is not None:
        start, end = day_bounds(day)
        events = events.filter(started_at__lt=end, ended_at__gte=start)
    return events


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def day_segments(events, day: date) -> list[dict]:
    """Where each event lies on ``day``, in percent of it, for the timeline bar."""
    start, end = day_bounds(day)
    length = (end - start).total_seconds()
    segments = []
    for event in events:
        left = max((event.started_at - start).total_seconds(), 0)
        right = min((event.ended_at - start).total_seconds(), length)
        segments.append({
            "event": event, "left": round(100 * left / length, 3),
            "width": round(max(100 * (right - left) / length, 0.15), 3),
        })
    return segments


def camera_labels(camera: Camera) -> list[str]:
    return list(Event.objects.filter(camera=camera).order_by("label").values_list("label", flat=True).distinct())


def latest_frame(camera: Camera) -> Classification | None:
    """The newest classified frame of ``camera``: its dashboard tile's picture and reading."""
    return (
        Classification.objects.filter(stream=camera.stream, status=Classification.Status.DONE)
        .select_related("model_version").order_by("-created_at", "-id").first()
    )


class HistoryEntries:
    """History's list: uploads (and API images) one by one, frames of watched sources as their events.

    Newest first by each entry's latest time (an event's end), one page read
    at a time: a ``UNION`` of the two tables' ids and times is counted and
    sliced by the database, then only that page's rows are loaded. A
    ``Paginator`` takes it like a queryset.
    """

    def __init__(self, visible: QuerySet[Classification], *, label: str = "", source: str = "", status: str = "",
                 name: str = "", created_after: datetime | None = None, created_before: datetime | None = None,
                 min_confidence: float | None = None, max_confidence: float | None = None):
        """``visible``: the classifications the reader may see; an event is shown when its frames are.

        ``name`` (part of a file name) keeps uploads only: frames have none. An event is within
        the dates when it overlaps them, and its confidence is its peak.
        """
        uploads = visible.filter(stream="")
        events = Event.objects.filter(pk__in=visible.exclude(event=None).values("event"))
        if label:
            uploads, events = uploads.filter(predicted_label=label), events.filter(label=label)
        if source:
            uploads, events = uploads.filter(source=source), events.filter(source=source)
        if status:
            uploads = uploads.filter(status=status)
            if status != Classification.Status.DONE:
                events = events.none()
        if name:
            uploads, events = uploads.filter(original_name__icontains=name), events.none()
        if created_after is not None:
            uploads, events = uploads.filter(created_at__gte=created_after), events.filter(ended_at__gte=created_after)
        if created_before is not None:
            uploads, events = uploads.filter(created_at__lt=created_before), events.filter(started_at__lt=created_before)
        if min_confidence is not None:
            uploads = uploads.filter(confidence__gte=min_confidence)
            events = events.filter(peak_confidence__gte=min_confidence)
        if max_confidence is not None:
            uploads = uploads.filter(confidence__lte=max_confidence)
            events = events.filter(peak_confidence__lte=max_confidence)
        if source in WATCHED_SOURCES:
            uploads = uploads.none()
        # Each side unordered (SQLite refuses ORDER BY inside a compound statement); the union is ordered.
        self._union = (
            uploads.order_by().annotate(kind=Value("upload"), at=F("created_at")).values_list("kind", "pk", "at")
            .union(events.order_by().annotate(kind=Value("event"), at=F("ended_at")).values_list("kind", "pk", "at"),
                   all=True)
            .order_by("-at", "-pk")
        )

    def count(self) -> int:
        return self._union.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[tuple[str, Classification | Event]]:
        keys = list(self._union[page])
        uploads = Classification.objects.select_related("model_version").in_bulk(
            [pk for kind, pk, _ in keys if kind == "upload"])
        events = Event.objects.select_related("best_frame", "camera").in_bulk(
            [pk for kind, pk, _ in keys if kind == "event"])
        rows = [(kind, (uploads if kind == "upload" else events).get(pk)) for kind, pk, _ in keys]
        return [(kind, row) for kind, row in rows if row is not None]
