"""Cameras the server watches on its own, and what their capturer last knew about them.

A ``Camera`` is what people configure (admin, API); its ``CameraState`` is what
the capture service writes: the lease that makes one capturer its only reader,
and its health. Two rows, so an admin saving a camera never overwrites the
health a capturer wrote a moment before, and the reverse.

Credentials live in ``username``/``password``, never in ``url``: the cameras
room moves any found in a URL there before saving (``cameras.credentials``),
so the URL can be shown and logged as it is.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def default_interval() -> float:
    return settings.CLASSIFIER["CAMERA_DEFAULT_INTERVAL_SECONDS"]


class Camera(models.Model):
    class Kind(models.TextChoices):
        RTSP = "rtsp", "RTSP stream"
        MJPEG = "mjpeg", "HTTP(S) MJPEG stream"
        SNAPSHOT = "snapshot", "HTTP(S) snapshot URL"
        DEVICE = "device", "Local video device"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                                 help_text="In every URL and payload; the sequential id stays internal.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cameras",
                              help_text="Frames belong to this user.")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.CharField(
        max_length=500,
        help_text="rtsp://host:554/path, http(s)://host/stream.mjpg, http(s)://host/snapshot.jpg, or /dev/video0.",
    )
    username = models.CharField(max_length=150, blank=True)
    password = models.CharField(max_length=200, blank=True, help_text="Never shown again once saved.")
    interval_seconds = models.FloatField(
        default=default_interval, validators=[MinValueValidator(1.0), MaxValueValidator(86_400.0)],
        help_text="Seconds between two frames taken.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="A capturer restarts a camera whose settings changed.")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def stream(self) -> str:
        """The source key its frames and events carry."""
        return f"camera:{self.pk}"

    @property
    def group(self) -> str:
        """The channel-layer group of its dashboard tile."""
        return f"camera.{self.pk}"


class CameraState(models.Model):
    """Written by the capture service only: the lease, and the camera's health."""

    class Status(models.TextChoices):
        OFFLINE = "offline", "Offline"
        CONNECTING = "connecting", "Connecting"
        ONLINE = "online", "Online"

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, primary_key=True, related_name="state")
    holder = models.CharField(max_length=120, blank=True, help_text="The capturer holding the lease.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OFFLINE)
    status_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed connections in a row.")
    frames_taken = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.camera_id}: {self.status}"
