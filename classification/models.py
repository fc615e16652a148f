"""What the service stores: each classified image, and the models that classify.

Images and model artifacts are ``FileField``s, so they live in whatever Django
storage is configured (local disk by default, S3 when set up). File names are
generated, never taken from the uploader, so a hostile name cannot choose a path.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _dated_path(prefix: str, extension: str) -> str:
    return f"{prefix}/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}.{extension}"


def image_upload_path(instance: "Classification", filename: str) -> str:
    return _dated_path("images", filename.rsplit(".", 1)[-1].lower())


def thumbnail_upload_path(instance: "Classification", filename: str) -> str:
    return _dated_path("thumbnails", "jpg")


def artifact_upload_path(instance: "ModelVersion", filename: str) -> str:
    return f"models/{uuid.uuid4().hex}/{filename}"


class ModelVersion(models.Model):
    """A trained model bundle and what it takes to serve it.

    Exactly one version is active at a time; workers serve the active one. The
    database allows at most one active row, and activation switches in one
    transaction (see ``model_registry.activate``).
    """

    class Preprocessing(models.TextChoices):
        MOBILENET = "mobilenet", "Scale to [-1, 1] (MobileNet)"
        RESCALE = "rescale", "Scale to [0, 1]"
        VGG16 = "vgg16", "Caffe BGR mean subtraction (VGG16)"
        NONE = "none", "Raw 0..255 pixels"

    name = models.CharField(max_length=200)
    architecture = models.CharField(max_length=100)
    class_names = models.JSONField(help_text="Class names in the order of the model's outputs.")
    input_size = models.PositiveIntegerField(help_text="Square input side in pixels.")
    preprocessing = models.CharField(max_length=20, choices=Preprocessing.choices)
    artifact = models.FileField(upload_to=artifact_upload_path, max_length=300)
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    report_files = models.JSONField(
        default=dict, blank=True, help_text="Report name → storage path: curves, confusion matrices, JSON, text."
    )
    description = models.TextField(blank=True, help_text="Origin and training data, shown in the UI.")
    is_demo = models.BooleanField(default=False)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.architecture}, #{self.pk})"

    @property
    def sample_accuracy(self) -> float | None:
        return self.metrics.get("samples_accuracy")


class Classification(models.Model):
    """One image and what the model said about it."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload form"
        WEBCAM = "webcam", "Webcam"
        API = "api", "REST API"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

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

    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="classifications"
    )

    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    byte_size = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the stored bytes.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        label = self.predicted_label or self.status
        return f"#{self.pk} {self.original_name or 'image'}: {label}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def is_reviewed(self) -> bool:
        return bool(self.reviewed_label)


class WorkerProcess(models.Model):
    """A worker process and the model it has loaded, as it last reported.

    Written by each worker process when it loads a model; read by readiness
    checks and shown in the admin, so people can see which model serves.
    """

    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    load_count = models.PositiveIntegerField(default=0)
    load_seconds = models.FloatField(default=0.0)
    warmup_seconds = models.FloatField(default=0.0)
    runtime = models.CharField(
        max_length=50, blank=True, help_text="What runs the model: onnxruntime, or tensorflow when no faster runtime matched Keras."
    )
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hostname", "pid"], name="unique_worker_process")]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class ReviewQueueItem(Classification):
    """The admin's review queue: unreviewed results, least confident first."""

    class Meta:
        proxy = True
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"


class TrainingRun(models.Model):
    """One training job: its settings, live progress, and the model version it produced.

    Started from the admin or ``manage.py train``; runs as a Celery task on its
    own queue so a long training never delays classifications.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    data = models.CharField(max_length=500, help_text="Folder with one sub-folder per class (or a reviewed export).")
    config = models.JSONField(default=dict, blank=True, help_text="Training settings (see ml.train.TrainConfig).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=50, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    last_metrics = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error_message = models.TextField(blank=True)
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )
    comparison = models.JSONField(
        default=dict, blank=True, help_text="The new and the active model on the same held-out reviewed images."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Training #{self.pk} ({self.config.get('arch', '?')}, {self.status})"
