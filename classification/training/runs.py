"""Training runs: check the settings, record a run, queue it, claim it, record its progress.

Web processes start runs here; nothing in this module trains or imports a
deep-learning framework (the training itself is
:mod:`classification.training.execution`, on the training worker). A run's
settings are :class:`ml.config.TrainConfig`'s options.

A run is never trained twice. Its message stays unacknowledged while it
trains (``acks_late``), and Redis hands an unacknowledged message out again
after the broker's visibility timeout, which the settings keep above
``TRAINING_MAX_SECONDS`` (the task's time limit); and whoever trains a run
first claims it with one conditional UPDATE (queued -> running, naming its
process), so a second delivery, or a second trainer, finds it taken and
leaves it. A run whose claiming process died is marked interrupted (by the
sweeper, or by the delivery that finds it so), never resumed behind anyone's
back; people start it again from the admin (:func:`restart`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from django.db import transaction
from django.utils import timezone

from classification import queueing
from classification.models import TrainingRun, WorkerProcess
from classification.review import reviews
from ml import s3sync
from ml.config import TrainConfig, resolve_config

LOG_LINES_KEPT = 200
#: ``TrainingRun.data`` value meaning "the reviewed images", exported when the run starts.
REVIEWED_DATA = "reviewed"


class TrainingError(ValueError):
    """Settings or data that cannot be trained on, with a message for people."""


def training_config(data: str, settings: dict[str, Any]) -> TrainConfig:
    """Validate settings (and the preset they name) into an ``ml.config.TrainConfig`` (output folder later)."""
    try:
        return resolve_config(str(data), "", settings)
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from exc


def create_run(*, data: str, settings: dict[str, Any], user=None) -> TrainingRun:
    """Record a training run with its effective settings (preset applied); nothing runs yet."""
    config = training_config(data, settings)
    return TrainingRun.objects.create(data=str(data), config=config.settings(), created_by=user)


def start_training(*, data: str, settings: dict[str, Any], user=None) -> TrainingRun:
    """Record a run and queue it on the training queue."""
    run = create_run(data=data, settings=settings, user=user)
    transaction.on_commit(lambda: queueing.train(run.pk))
    return run


def check_data_source(data: str) -> None:
    """The data must be there before a run is queued: a folder (or .zip) here, or an S3 prefix with objects.

    The training worker reads the same paths (one machine, or a shared volume), so a folder
    this process cannot see would fail the run seconds after it started.
    """
    data = str(data).strip()
    if data == REVIEWED_DATA:
        return check_reviewed_data()
    if s3sync.is_s3_uri(data):
        try:
            return s3sync.check_exists(data)
        except s3sync.S3SyncError as exc:
            raise TrainingError(str(exc)) from exc
    path = Path(data).expanduser()
    if path.is_file() and path.suffix.lower() == ".zip":
        return None
    if not path.is_dir():
        raise TrainingError(f"No folder or .zip file at {data} on this server.")
    if not any(child.is_dir() for child in path.iterdir()):
        raise TrainingError(f"{data} has no sub-folders: give a folder with one sub-folder per class.")
    return None


def claim(run_id: int, worker: str) -> bool:
    """Take a queued run for ``worker`` ("hostname:pid"); False when it is not queued (taken, finished...)."""
    taken = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, claimed_by=worker, started_at=timezone.now(), finished_at=None,
        error_message="",
    )
    return taken == 1


def interrupt_abandoned(runs=None) -> int:
    """Mark running runs whose claiming process no longer lives as interrupted; returns how many.

    Each update is conditional on the status and claimant seen, so a run that
    finished (or was claimed again) in the meantime is left alone.
    """
    candidates = (runs if runs is not None else TrainingRun.objects.all()).filter(status=TrainingRun.Status.RUNNING)
    interrupted = 0
    for run_id, worker, claimed_at in candidates.values_list("pk", "claimed_by", "started_at"):
        if worker and WorkerProcess.objects.is_alive(worker, claimed_at):
            continue
        message = (
            f"The training process ({worker or 'unknown'}) stopped before the run finished (killed, out of memory, "
            "or over the time limit). Start it again from the admin (Training runs, “Start again”)."
        )
        interrupted += TrainingRun.objects.filter(
            pk=run_id, status=TrainingRun.Status.RUNNING, claimed_by=worker, started_at=claimed_at
        ).update(status=TrainingRun.Status.INTERRUPTED, stage="interrupted", error_message=message,
                 finished_at=timezone.now())
    return interrupted


#: Runs people may start again: their process died, or they failed (data fixed since, say).
RESTARTABLE = (TrainingRun.Status.INTERRUPTED, TrainingRun.Status.FAILED)


def restart(run_id: int) -> bool:
    """Queue an interrupted (or failed) run again, from the start; False when it is in no state to restart."""
    with transaction.atomic():
        queued = TrainingRun.objects.filter(pk=run_id, status__in=RESTARTABLE).update(
            status=TrainingRun.Status.QUEUED, claimed_by="", stage="", epoch=0, eta_seconds=None, last_metrics={},
            error_message="", started_at=None, finished_at=None,
        )
        if queued:
            transaction.on_commit(lambda: queueing.train(run_id))
    return queued == 1


def check_reviewed_data() -> None:
    if reviews.reviewed().values("reviewed_label").distinct().count() < 2:
        raise TrainingError("Review images of at least two classes before training on reviews.")


def start_training_from_reviewed(*, settings: dict[str, Any], user=None) -> TrainingRun:
    """Queue a run on the reviewed images; it is compared with the active model when done."""
    check_reviewed_data()
    return start_training(data=REVIEWED_DATA, settings=settings, user=user)


class ProgressRecorder:
    """Receives ``ml.train`` progress events and keeps the run row current."""

    def __init__(self, run: TrainingRun, echo: Callable[[dict], None] | None = None):
        self.run = run
        self.echo = echo

    def __call__(self, event: dict[str, Any]) -> None:
        if self.echo:
            self.echo(event)
        run = self.run
        run.stage = event["stage"]
        if event["stage"] == "epoch":
            run.epoch, run.epochs = event["epoch"], event["epochs"]
            run.eta_seconds = event.get("eta_seconds")
            run.last_metrics = {k: round(float(v), 4) for k, v in event.get("metrics", {}).items()}
            line = f"epoch {run.epoch}/{run.epochs} " + " ".join(f"{k}={v}" for k, v in run.last_metrics.items())
        else:
            line = f"[{event['stage']}] {event.get('message', '')}"
        run.log = "\n".join((run.log.splitlines() + [line])[-LOG_LINES_KEPT:])
        run.save(update_fields=["stage", "epoch", "epochs", "eta_seconds", "last_metrics", "log"])


def finish(run: TrainingRun, status: str, *, error: str = "", version=None) -> TrainingRun:
    """Record the end of a run this process holds; a run taken from it meanwhile (marked interrupted,
    restarted) keeps its newer state."""
    run.status, run.error_message, run.finished_at = status, error, timezone.now()
    run.model_version = version
    run.stage = "done" if status == TrainingRun.Status.DONE else "failed"
    fields = ("status", "error_message", "finished_at", "model_version", "stage")
    held = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING, claimed_by=run.claimed_by)
    if not held.update(**{name: getattr(run, name) for name in fields}):
        run.refresh_from_db()
    return run
