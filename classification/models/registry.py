"""The models that classify: trained bundles stored as versions, one of them active."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ml.preprocessing import PREPROCESSING_MODES


def dated_path(prefix: str, extension: str) -> str:
    """A fresh storage name under ``prefix``, grouped by day: never chosen by an uploader."""
    return f"{prefix}/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}.{extension}"


# What people read for the classes the demo model and the old notebooks use; any other class
# reads as its name with spaces (``default_display_name``).
DEFAULT_DISPLAY_NAMES = {"human": "Human", "no_human": "No human", "uber_eats": "Uber Eats courier"}


def default_display_name(label: str) -> str:
    return DEFAULT_DISPLAY_NAMES.get(label) or label.replace("_", " ").strip().capitalize() or label


def artifact_upload_path(instance: "ModelVersion", filename: str) -> str:
    return f"models/{uuid.uuid4().hex}/{filename}"


class ModelVersion(models.Model):
    """A trained model bundle and what it takes to serve it.

    Exactly one version is active at a time; workers serve the active one. The
    database allows at most one active row, and activation switches in one
    transaction (see ``classification.registry.versions.activate``).
    """

    class Int8Decision(models.TextChoices):
        SERVED = "served", "int8 serves"
        REFUSED = "refused", "float serves (int8 refused)"

    name = models.CharField(max_length=200)
    architecture = models.CharField(max_length=100)
    class_names = models.JSONField(help_text="Class names in the order of the model's outputs.")
    input_size = models.PositiveIntegerField(help_text="Square input side in pixels.")
    preprocessing = models.CharField(max_length=20, choices=list(PREPROCESSING_MODES.items()))
    artifact = models.FileField(upload_to=artifact_upload_path, max_length=300)
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    display_names = models.JSONField(
        default=dict, blank=True,
        help_text="Class name → the name people read (pages, cards, bars); fixed once the version is activated.",
    )
    metrics = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(
        default=1.0, help_text="Calibration: logits are divided by it before the softmax (fitted on validation data)."
    )
    # int8 (ml.quantization): made from the checked ONNX export when the version is compiled, stored
    # beside the model, and served only when it passed its check on the version's validation split.
    int8_decision = models.CharField(
        max_length=10, choices=Int8Decision.choices, blank=True, default="",
        help_text="Whether the int8 graph serves; empty until the version is compiled.",
    )
    int8_reason = models.CharField(max_length=300, blank=True, help_text="Why int8 was refused, if it was.")
    int8_images = models.PositiveIntegerField(default=0, help_text="Validation images int8 was checked on.")
    int8_fp32_accuracy = models.FloatField(null=True, blank=True, help_text="Float graph's accuracy on them.")
    int8_accuracy = models.FloatField(null=True, blank=True, help_text="int8 graph's accuracy on them.")
    int8_agreement = models.FloatField(
        null=True, blank=True, help_text="Share of them on which int8 and float give the same top-1 label."
    )
    int8_artifact = models.FileField(upload_to=artifact_upload_path, max_length=300, blank=True)
    int8_sha256 = models.CharField(max_length=64, blank=True)
    report_files = models.JSONField(
        default=dict, blank=True, help_text="Report name → storage path: curves, confusion matrices, JSON, text."
    )
    description = models.TextField(blank=True, help_text="Origin and training data, shown in the UI.")
    is_demo = models.BooleanField(default=False)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(
        null=True, blank=True, help_text="First activation: from then on what it is (classes, file, inputs) is fixed."
    )
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

    def save(self, *args, **kwargs):
        """Every class gets a stored display name (the default unless one was given)."""
        names = dict(self.display_names or {})
        for label in self.class_names or []:
            names[label] = (names.get(label) or "").strip() or default_display_name(label)
        self.display_names = names
        super().save(*args, **kwargs)

    @property
    def is_fixed(self) -> bool:
        """Once activated, results were read with its classes and inputs: they may no longer change."""
        return self.is_active or self.activated_at is not None

    def display_name(self, label: str) -> str:
        return (self.display_names or {}).get(label) or default_display_name(label)

    def int8_summary(self) -> str:
        """One line for logs and the admin: the int8 decision and its numbers."""
        if not self.int8_decision:
            return "not compiled yet"
        if self.int8_accuracy is None:
            return f"{self.get_int8_decision_display()}: {self.int8_reason}"
        numbers = (f"accuracy {100 * self.int8_fp32_accuracy:.1f} % float, {100 * self.int8_accuracy:.1f} % int8, "
                   f"top-1 agreement {100 * self.int8_agreement:.1f} % on {self.int8_images} validation images")
        return f"{self.get_int8_decision_display()} ({numbers}{'; ' + self.int8_reason if self.int8_reason else ''})"

    @property
    def sample_accuracy(self) -> float | None:
        return self.metrics.get("samples_accuracy")
