"""Events: consecutive frames of one source (a camera, or a browser webcam session) with one label.

An event is what History, the review queue, the dashboard timeline and alerts
show instead of every frame. ``frame_count`` counts every frame seen,
``stored_count`` those kept: a frame nearly identical to the last one kept is
counted, not stored (``classification.events.frames``).
"""

from django.conf import settings
from django.db import models


class Event(models.Model):
    stream = models.CharField(max_length=100, help_text="camera:ID, or webcam:SESSION for a browser's webcam.")
    source = models.CharField(max_length=10, help_text="camera or webcam, as the frames' source.")
    camera = models.ForeignKey("classification.Camera", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="events")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="events")
    label = models.CharField(max_length=100, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(db_index=True)
    frame_count = models.PositiveIntegerField(default=0, help_text="Frames seen, stored or not.")
    stored_count = models.PositiveIntegerField(default=0, help_text="Frames stored (the others were near-duplicates).")
    peak_confidence = models.FloatField(default=0.0)
    best_frame = models.ForeignKey("classification.Classification", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    last_frame = models.ForeignKey("classification.Classification", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-ended_at", "-id"]
        indexes = [models.Index(fields=["stream", "-ended_at"], name="event_stream_latest")]

    def __str__(self) -> str:
        return f"{self.label} on {self.stream} ({self.frame_count} frames)"

    @property
    def duration_seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()
