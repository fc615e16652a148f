"""Training runs: their settings, progress and the model version each produced."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from classification.models.registry import ModelVersion


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
        # Its training process died (killed, out of memory, the machine stopped) before it finished.
        INTERRUPTED = "interrupted", "Interrupted"

    data = models.CharField(max_length=500, help_text="Folder with one sub-folder per class (or a reviewed export).")
    config = models.JSONField(default=dict, blank=True, help_text="Training settings (see ml.train.TrainConfig).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    claimed_by = models.CharField(
        max_length=300, blank=True, default="",
        help_text='"hostname:pid" of the process that claimed the run to train it (its heartbeat says whether it lives).',
    )
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
