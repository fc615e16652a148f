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
from ml.bundle import BundleMetadata, save_bundle, write_validation
from ml.config import TrainConfig, parse_args
from ml.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability
from ml.datasets import DatasetError, Split, class_counts, load_pixels, stratified_split
from ml.fitting import Progress, fit_end_to_end, fit_on_features, source_weights, split_at_frozen_front
from ml.keras_io import quiet_tensorflow
from ml.layouts import dataset_root, read_layout


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
    preprocessing = config.pixel_scaling

    report({"stage": "loading", "message": f"reading {config.data}"})
    with dataset_root(config.data) as root:
        folder, given = read_layout(root)
        # Built before decoding thousands of images, so unavailable weights fail in seconds.
        model = build_model(config.arch, len(folder.class_names), config.img_size, config.weights,
                            config.fine_tune, config.dropout, **config.layer_widths())
        pixels, kept = load_pixels(folder.files, config.img_size)
    labels = folder.labels[kept]
    empty = [name for i, name in enumerate(folder.class_names) if not (labels == i).any()]
    if empty:
        raise DatasetError(f"No readable images left in class {', '.join(empty)} of {config.data}.")
    split = _split(labels, kept, given, config)
    if given is not None:
        report({"stage": "loading", "message": "pre-split folders: train/val/test used as given"})
    counts = {part: class_counts(labels[getattr(split, part)], folder.class_names) for part in ("train", "val", "test")}
    report({"stage": "loading", "message": f"{len(labels)} images, classes {folder.class_names}, split {counts}"})

    data = {part: (pixels[getattr(split, part)], labels[getattr(split, part)]) for part in ("train", "val", "test")}
    weights = None
    if config.class_balance == "sources":
        sources = np.array(folder.sources)[kept]
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
    raw = {part: _probabilities(model, metadata, data[part][0], config.batch_size) for part in ("val", "test")}
    if config.calibrate and len(data["val"][1]):
        metadata.temperature = fit_temperature(raw["val"], data["val"][1])
        report({"stage": "calibrating", "message": f"temperature {metadata.temperature} fitted on validation"})
    test_metrics, calibration = _test_metrics(raw["test"], data["test"][1], metadata)
    metadata.metrics = {
        "test_accuracy": test_metrics.get("accuracy"),
        "test_macro_f1": test_metrics.get("macro_f1"),
        "test_recall": {name: m["recall"] for name, m in test_metrics.get("per_class", {}).items()},
        "val_accuracy": _restored_val_accuracy(history),
        "epochs_run": len(history.get("loss", [])),
        "temperature": metadata.temperature,
        "test_ece": calibration.get("calibrated", {}).get("ece"),
        "test_ece_uncalibrated": calibration.get("uncalibrated", {}).get("ece"),
    }

    report({"stage": "saving", "message": str(config.out)})
    out = save_bundle(model, metadata, config.out)
    write_validation(out, *data["val"], seed=config.seed)
    wall = time.perf_counter() - started
    _write_reports(out, config, history, counts, test_metrics, calibration, wall)
    report({"stage": "done", "message": f"test accuracy {test_metrics.get('accuracy')} in {wall:.0f}s"})
    return TrainResult(out, metadata, history, test_metrics, counts, wall, model)


def _split(labels: np.ndarray, kept: np.ndarray, given: Split | None, config: TrainConfig) -> Split:
    """The split to train with: stratified and seeded, or the given one (a missing val carved from train).

    ``kept`` maps positions in ``labels`` to the files of the dataset (unreadable ones were skipped).
    """
    if given is None:
        return stratified_split(labels, config.val_split, config.test_split, config.seed)
    parts = {name: np.flatnonzero(np.isin(kept, getattr(given, name))) for name in ("train", "val", "test")}
    if not len(parts["val"]) and config.val_split > 0:
        carved = stratified_split(labels[parts["train"]], config.val_split, 0.0, config.seed)
        parts["val"], parts["train"] = parts["train"][carved.val], parts["train"][carved.train]
    return Split(**parts)


# --- results ------------------------------------------------------------------------------


def _probabilities(model, metadata: BundleMetadata, pixels, batch_size: int) -> np.ndarray:
    """Uncalibrated class probabilities from the end-to-end model, fed as a Predictor feeds it."""
    from ml.evaluate import predict_pixels
    from ml.predictor import Predictor

    uncalibrated = dataclasses.replace(metadata, temperature=1.0)
    return predict_pixels(Predictor(model, uncalibrated), pixels, batch_size)


def _test_metrics(raw: np.ndarray, labels: np.ndarray, metadata: BundleMetadata) -> tuple[dict, dict]:
    """Held-out metrics (the temperature never changes which class wins) and calibration before and after."""
    from ml.metrics import classification_metrics

    if not len(labels):
        return {}, {}
    calibrated = apply_temperature(raw, metadata.temperature)
    calibration = {
        name: {"ece": expected_calibration_error(probabilities, labels), "bins": reliability(probabilities, labels)}
        for name, probabilities in (("uncalibrated", raw), ("calibrated", calibrated))
    }
    calibration["temperature"] = metadata.temperature
    return classification_metrics(labels, calibrated.argmax(axis=1), metadata.class_names), calibration


def _restored_val_accuracy(history: dict[str, list[float]]) -> float | None:
    """Validation accuracy of the epoch early stopping restored (lowest val_loss)."""
    if not history.get("val_loss"):
        return None
    return round(float(history["val_accuracy"][int(np.argmin(history["val_loss"]))]), 4)


def _write_reports(out: Path, config: TrainConfig, history, counts, test_metrics, calibration, wall: float) -> None:
    from ml.reports import save_reliability_diagram, write_evaluation_reports, write_training_reports

    write_training_reports(out, history, dataclasses.asdict(config), counts, wall,
                           extra={"test_metrics": test_metrics, "calibration": calibration})
    if test_metrics:
        write_evaluation_reports(out, test_metrics, "test")
        save_reliability_diagram(calibration, out / "test_reliability.png", title="held-out test split")


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    from ml import s3sync

    try:
        config = parse_args(argv)
        if s3sync.is_s3_uri(config.data):
            cache = os.environ.get("CLASSIFIER_DATASET_CACHE_DIR", "var/dataset-cache")
            config.data = str(s3sync.local_copy(config.data, cache))
        train(config)
    except (DatasetError, ValueError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
