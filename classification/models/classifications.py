"""Each classified image and what the model said about it.

Images and thumbnails are ``FileField``s, so they live in whatever Django
storage is configured (local disk by default, S3 when set up). File names are
generated, never taken from the uploader, so a hostile name cannot choose a path.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from classification.models.registry import ModelVersion, dated_path


def image_upload_path(instance: "Classification", filename: str) -> str:
    return dated_path("images", filename.rsplit(".", 1)[-1].lower())


def thumbnail_upload_path(instance: "Classification", filename: str) -> str:
    return dated_path("thumbnails", "jpg")


class Classification(models.Model):
    """One image and what the model said about it."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload form"
        WEBCAM = "webcam", "Webcam"
        API = "api", "REST API"
        CAMERA = "camera", "Camera"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # What visitors see in URLs and payloads: the sequential id stays internal (admin, tasks).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image = models.FileField(upload_to=image_upload_path, max_length=300)
    thumbnail = models.FileField(upload_to=thumbnail_upload_path, max_length=300, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)

    predicted_label = models.CharField(max_length=100, blank=True, db_index=True)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(default=dict, blank=True, help_text="Every class's probability.")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="classifications"
    )
    error_message = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times the sweeper queued it again.")
    requeued_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=300, blank=True, default="",
        help_text='"hostname:pid" of the worker process that claimed it when marking it running ("" when none holds it).',
    )

    reviewed_label = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="The label a person confirmed or corrected."
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    notify_group = models.CharField(
        max_length=100, blank=True, help_text="Channel-layer group of the websocket that sent it, told when done."
    )

    stream = models.CharField(
        max_length=100, blank=True, db_index=True,
        help_text="camera:ID or webcam:SESSION for frames of a watched source (events); empty for uploads.",
    )
    event = models.ForeignKey(
        "classification.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="frames"
    )

    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="classifications"
    )

    owner_key = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="Anonymous sender's browser-session owner key (classification.privacy.owners); empty for users.",
    )
    suggested_label = models.CharField(
        max_length=100, blank=True, help_text="The label its owner says is right, waiting for a reviewer."
    )
    suggested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )
    suggested_at = models.DateTimeField(null=True, blank=True)

    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    byte_size = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the uploaded bytes.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        label = self.predicted_label or self.status
        return f"#{self.pk} {self.original_name or 'image'}: {label}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ReviewQueueItem(Classification):
    """The admin's review queue: unreviewed results, least confident first."""

    class Meta:
        proxy = True
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"
