"""Training a classifier from a class-folder dataset into a model bundle.

``train(config, progress)`` is the one entry point: the CLI below calls it and
so can a Celery task, passing a ``progress`` callable that receives one dict
per event (stage changes and every epoch, with metrics and an ETA). What it
can be told is :class:`ml.config.TrainConfig`; how the model is fitted is
:mod:`ml.fitting`.

Images are decoded and resized once with :func:`ml.preprocessing.input_pixels`,
exactly as :class:`ml.predictor.Predictor` decodes an upload, split
(stratified, seeded), fitted, evaluated once on the held-out test split, and
saved as a bundle with its reports.

Usage: ``python -m ml.train --data DIR --arch mobilenet_v2 --weights PATH --out DIR``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ml.architectures import WeightsUnavailableError, build_model
from ml.bundle import BundleMetadata, save_bundle
from ml.config import ARCHITECTURES, TrainConfig, parse_args
from ml.datasets import DatasetError, class_counts, load_pixels, scan_image_folder, stratified_split
from ml.fitting import Progress, fit_end_to_end, fit_on_features, source_of, source_weights, split_at_frozen_front
from ml.keras_io import quiet_tensorflow


@dataclass
class TrainResult:
    bundle_dir: Path
    metadata: BundleMetadata
    history: dict[str, list[float]]
    test_metrics: dict[str, Any]
    counts: dict[str, dict[str, int]]
    wall_seconds: float
    model: Any = field(repr=False, default=None)


def print_progress(event: dict[str, Any]) -> None:
    """The CLI's progress callback: one line per epoch, one per stage."""
    if event["stage"] == "epoch":
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in event["metrics"].items())
        print(f"epoch {event['epoch']}/{event['epochs']}  {metrics}  "
              f"({event['epoch_seconds']:.1f}s, ETA {event['eta_seconds']:.0f}s)", flush=True)
    else:
        print(f"[{event['stage']}] {event.get('message', '')}", flush=True)


def train(config: TrainConfig, progress: Progress | None = print_progress) -> TrainResult:
    """Train, evaluate on the held-out test split and write the bundle to ``config.out``."""
    started = time.perf_counter()
    report = progress or (lambda event: None)
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(config.seed)
    preprocessing = ARCHITECTURES[config.arch].preprocessing

    report({"stage": "loading", "message": f"reading {config.data}"})
    folder = scan_image_folder(config.data)
    # Built before decoding thousands of images, so unavailable weights fail in seconds.
    model = build_model(config.arch, len(folder.class_names), config.img_size, config.weights,
                        config.fine_tune, config.dropout)
    pixels, kept = load_pixels(folder.files, config.img_size)
    labels = folder.labels[kept]
    empty = [name for i, name in enumerate(folder.class_names) if not (labels == i).any()]
    if empty:
        raise DatasetError(f"No readable images left in class {', '.join(empty)} of {config.data}.")
    split = stratified_split(labels, config.val_split, config.test_split, config.seed)
    counts = {part: class_counts(labels[getattr(split, part)], folder.class_names) for part in ("train", "val", "test")}
    report({"stage": "loading", "message": f"{len(labels)} images, classes {folder.class_names}, split {counts}"})

    data = {part: (pixels[getattr(split, part)], labels[getattr(split, part)]) for part in ("train", "val", "test")}
    weights = None
    if config.class_balance == "sources":
        sources = np.array([source_of(folder.root, folder.files[i]) for i in kept])
        weights = source_weights(labels[split.train], sources[split.train])
    split_model = split_at_frozen_front(model) if config.feature_rounds > 0 else None
    if split_model is not None:
        history = fit_on_features(split_model, data, config, preprocessing, report, weights)
    else:
        if config.feature_rounds > 0:
            report({"stage": "training", "message": "no frozen front to cache features of: training end to end"})
        history = fit_end_to_end(model, data, config, preprocessing, report, weights)

    report({"stage": "evaluating", "message": f"{len(data['test'][1])} held-out test images"})
    metadata = BundleMetadata(
        name=config.name or f"{config.arch}-{Path(config.data).name}",
        architecture=config.arch,
        class_names=list(folder.class_names),
        input_size=int(config.img_size),
        preprocessing=preprocessing,
        description=config.description,
    )
    test_metrics = _test_metrics(model, metadata, *data["test"], config.batch_size)
    metadata.metrics = {
        "test_accuracy": test_metrics.get("accuracy"),
        "test_macro_f1": test_metrics.get("macro_f1"),
        "val_accuracy": _restored_val_accuracy(history),
        "epochs_run": len(history.get("loss", [])),
    }

    report({"stage": "saving", "message": str(config.out)})
    out = save_bundle(model, metadata, config.out)
    wall = time.perf_counter() - started
    _write_reports(out, config, history, counts, test_metrics, wall)
    report({"stage": "done", "message": f"test accuracy {test_metrics.get('accuracy')} in {wall:.0f}s"})
    return TrainResult(out, metadata, history, test_metrics, counts, wall, model)


# --- results ------------------------------------------------------------------------------


def _test_metrics(model, metadata: BundleMetadata, pixels, labels, batch_size: int) -> dict[str, Any]:
    """Held-out metrics from the end-to-end model, fed as a Predictor feeds it."""
    from ml.evaluate import predict_pixels
    from ml.metrics import classification_metrics
    from ml.predictor import Predictor

    if not len(labels):
        return {}
    probabilities = predict_pixels(Predictor(model, metadata), pixels, batch_size)
    return classification_metrics(labels, probabilities.argmax(axis=1), metadata.class_names)


def _restored_val_accuracy(history: dict[str, list[float]]) -> float | None:
    """Validation accuracy of the epoch early stopping restored (lowest val_loss)."""
    if not history.get("val_loss"):
        return None
    return round(float(history["val_accuracy"][int(np.argmin(history["val_loss"]))]), 4)


def _write_reports(out: Path, config: TrainConfig, history, counts, test_metrics, wall: float) -> None:
    from ml.reports import write_evaluation_reports, write_training_reports

    write_training_reports(out, history, dataclasses.asdict(config), counts, wall,
                           extra={"test_metrics": test_metrics})
    if test_metrics:
        write_evaluation_reports(out, test_metrics, "test")


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    from ml import s3sync

    try:
        config = parse_args(argv)
        if s3sync.is_s3_uri(config.data):
            cache = os.environ.get("CLASSIFIER_DATASET_CACHE_DIR", "var/dataset-cache")
            config.data = str(s3sync.sync_prefix(config.data, cache).directory)
        train(config)
    except (DatasetError, ValueError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
