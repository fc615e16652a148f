"""Running a training run, on the training worker (or in ``manage.py train``).

The training itself is :func:`ml.train.train`; this module gives it the run's
data (a local folder, an ``s3://`` prefix synced to a local cache, or the
reviewed images), a progress recorder, and turns the bundle it writes into an
inactive :class:`ModelVersion` with its reports. Nobody serves the new version
until someone activates it. This module imports TensorFlow (through ``ml``):
never import it from web-side code.
"""

from __future__ import annotations

import logging
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

from django.conf import settings as django_settings
from classification.models import TrainingRun
from classification.models.workers import this_process_id
from classification.registry import artifacts, versions
from classification.review import datasets, reviews
from classification.training import runs
from classifier_site.storage import s3_client
from ml import s3sync
from ml.architectures import WeightsUnavailableError
from ml.datasets import DatasetError
from ml.evaluate import evaluate_predictor, labelled_files
from ml.predictor import Predictor
from ml.s3sync import S3SyncError
from ml.train import train

logger = logging.getLogger(__name__)


def local_dataset(data: str, progress: Callable[[dict], None] | None = None) -> str:
    """A local folder (or zip) for ``data``: itself, or the cached copy of an ``s3://`` prefix or ``.zip``."""
    if not s3sync.is_s3_uri(data):
        return data
    say = (lambda line: progress({"stage": "syncing", "message": line})) if progress else None
    cache = django_settings.CLASSIFIER["DATASET_CACHE_DIR"]
    return str(s3sync.local_copy(data, cache, client=s3_client(), progress=say))


def run_training(
    run_id: int, echo: Callable[[dict], None] | None = None, time_up: tuple[type[BaseException], ...] = ()
) -> TrainingRun:
    """Claim run ``run_id``, train it and register its bundle.

    ``time_up``: the exceptions that say the run used up ``TRAINING_MAX_SECONDS``
    (the worker's soft time limit); the run fails saying so.

    Only a queued run is trained: a run another process holds (a second
    delivery of its message, a second trainer) or that already ended is
    returned as it is; one whose holder died is marked interrupted here.
    """
    if not runs.claim(run_id, this_process_id()):
        runs.interrupt_abandoned(TrainingRun.objects.filter(pk=run_id))
        run = TrainingRun.objects.get(pk=run_id)
        logger.warning("Training run %s not trained here: it is %s (held by %s)", run_id, run.status, run.claimed_by)
        return run
    run = TrainingRun.objects.get(pk=run_id)
    recorder = runs.ProgressRecorder(run, echo)
    try:
        with tempfile.TemporaryDirectory(prefix="training-") as out:
            holdout = None
            if run.data == runs.REVIEWED_DATA:
                data, holdout = export_reviewed_split(Path(out) / "reviewed", seed=int(run.config.get("seed", 0)))
            else:
                data = local_dataset(run.data, recorder)
            config = runs.training_config(data, run.config)
            config.out = str(Path(out) / "bundle")
            result = train(config, progress=recorder)
            if holdout is not None:
                run.comparison = compare_on_holdout(result.bundle_dir, holdout)
                run.save(update_fields=["comparison"])
            version = versions.import_bundle(result.bundle_dir)
    except (runs.TrainingError, DatasetError, WeightsUnavailableError, S3SyncError, ValueError) as exc:
        return runs.finish(run, TrainingRun.Status.FAILED, error=str(exc))
    except time_up:
        limit = django_settings.CLASSIFIER["TRAINING_MAX_SECONDS"]
        return runs.finish(run, TrainingRun.Status.FAILED, error=(
            f"Stopped: the run took longer than CLASSIFIER_TRAINING_MAX_SECONDS ({limit} s). Train fewer epochs "
            "or less data, or raise the limit (the broker's visibility timeout follows it)."
        ))
    except Exception as exc:
        logger.exception("Training run %s failed", run_id)
        return runs.finish(run, TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return runs.finish(run, TrainingRun.Status.DONE, version=version)


def export_reviewed_split(directory: Path, *, holdout_share: float = 0.2, seed: int = 0) -> tuple[str, Path]:
    """Write reviewed images as class folders: ``train/`` to learn from, ``holdout/`` to compare on.

    The hold-out is drawn per class (seeded), so both models are judged on the
    same images, none of which the new model saw.
    """
    by_label: dict[str, list] = {}
    for classification in reviews.reviewed().order_by("pk"):
        by_label.setdefault(classification.reviewed_label, []).append(classification)
    rng = random.Random(seed)
    for label, rows in sorted(by_label.items()):
        rng.shuffle(rows)
        held = max(1, round(len(rows) * holdout_share)) if len(rows) >= 2 else 0
        datasets.write_dataset_folder(directory / "holdout", rows[:held])
        datasets.write_dataset_folder(directory / "train", rows[held:])
    return str(directory / "train"), directory / "holdout"


def compare_on_holdout(bundle_dir: Path, holdout: Path) -> dict[str, Any]:
    """Accuracy of the new bundle and of the active model on the same held-out reviewed images."""
    files, labels = labelled_files(holdout)
    new = evaluate_predictor(Predictor.from_bundle(bundle_dir), files, labels).metrics
    comparison: dict[str, Any] = {"images": len(files), "new": _summary(new)}
    active = versions.active_version()
    if active is not None:
        predictor = Predictor.from_files(artifacts.local_model_path(active), versions.metadata_of(active))
        known = [(f, label) for f, label in zip(files, labels) if label in predictor.class_names]
        if known:
            metrics = evaluate_predictor(predictor, [f for f, _ in known], [label for _, label in known]).metrics
            comparison["active"] = {"version_id": active.pk, "name": active.name, **_summary(metrics)}
    return comparison


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "count": metrics["count"]}
