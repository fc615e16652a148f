"""The worker processes that serve models, as each last reported."""

from django.db import models
from django.utils import timezone

from classification.models.registry import ModelVersion


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
        verbose_name_plural = "worker processes"
        constraints = [models.UniqueConstraint(fields=["hostname", "pid"], name="unique_worker_process")]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"
