"""The models that classify: trained bundles stored as versions, one of them active."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ml.preprocessing import PREPROCESSING_MODES


def dated_path(prefix: str, extension: str) -> str:
    """A fresh storage name under ``prefix``, grouped by day: never chosen by an uploader."""
    return f"{prefix}/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}.{extension}"


def artifact_upload_path(instance: "ModelVersion", filename: str) -> str:
    return f"models/{uuid.uuid4().hex}/{filename}"


class ModelVersion(models.Model):
    """A trained model bundle and what it takes to serve it.

    Exactly one version is active at a time; workers serve the active one. The
    database allows at most one active row, and activation switches in one
    transaction (see ``classification.registry.versions.activate``).
    """

    name = models.CharField(max_length=200)
    architecture = models.CharField(max_length=100)
    class_names = models.JSONField(help_text="Class names in the order of the model's outputs.")
    input_size = models.PositiveIntegerField(help_text="Square input side in pixels.")
    preprocessing = models.CharField(max_length=20, choices=list(PREPROCESSING_MODES.items()))
    artifact = models.FileField(upload_to=artifact_upload_path, max_length=300)
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(
        default=1.0, help_text="Calibration: logits are divided by it before the softmax (fitted on validation data)."
    )
    report_files = models.JSONField(
        default=dict, blank=True, help_text="Report name → storage path: curves, confusion matrices, JSON, text."
    )
    description = models.TextField(blank=True, help_text="Origin and training data, shown in the UI.")
    is_demo = models.BooleanField(default=False)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Compiled once, when imported or activated, by the registry task (never by a serving process):
    # the ONNX export stored beside the artifact, and how far it is from Keras on the validation images.
    onnx_artifact = models.FileField(upload_to=artifact_upload_path, max_length=300, blank=True)
    onnx_sha256 = models.CharField(max_length=64, blank=True)
    onnx_max_difference = models.FloatField(
        null=True, blank=True, help_text="Largest probability difference between the ONNX export and Keras."
    )
    onnx_error = models.TextField(blank=True, help_text="Why the export was not made or not trusted, if so.")
    compiled_at = models.DateTimeField(null=True, blank=True)
    # Serving processes that could not load it: the last error, and backoff before anyone tries again.
    load_error = models.TextField(blank=True)
    load_failed_at = models.DateTimeField(null=True, blank=True)
    load_failures = models.PositiveIntegerField(default=0)

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
