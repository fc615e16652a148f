"""Training a classifier from a class-folder dataset into a model bundle.

``train(config, progress)`` is the one entry point: the CLI below calls it and
so can a Celery task, passing a ``progress`` callable that receives one dict
per event (stage changes and every epoch, with metrics and an ETA).

Images are decoded and resized once through :mod:`ml.preprocessing`, so the
model is trained on pixels prepared exactly as :class:`ml.predictor.Predictor`
prepares them. Augmentation runs in the ``tf.data`` pipeline on training
batches only; then pixels are scaled with the same :func:`scale_pixels`.

Fast path (``feature_rounds > 0`` with a pretrained backbone that is frozen,
or frozen below its top ``fine_tune`` layers): the frozen front's outputs are
computed once per augmentation round (round 1 unaugmented) and only the rest of
the model is trained on them. Each image is then seen in ``feature_rounds``
variants instead of a fresh one every epoch, at a fraction of the CPU time.
The bundle is the whole end-to-end model either way.

Usage: ``python -m ml.train --data DIR --arch mobilenet_v2 --weights PATH --out DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ml.architectures import FEATURES_LAYER, PRESETS, WeightsUnavailableError, build_model, normalise_weights
from ml.bundle import BundleMetadata, save_bundle
from ml.datasets import DatasetError, load_pixels, scan_image_folder, stratified_split
from ml.keras_io import quiet_tensorflow
from ml.preprocessing import scale_pixels

Progress = Callable[[dict[str, Any]], None]

CLASS_BALANCES = ("none", "weights", "sources")


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = "mobilenet_v2"
    weights: str | None = "imagenet"
    fine_tune: int = 0
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    img_size: int | None = None  # None: the preset's default
    seed: int = 0
    val_split: float = 0.15
    test_split: float = 0.15
    # "none"; "weights": every class weighs the same in the loss; "sources": that, and within a
    # class every source sub-folder (ROOT/<class>/<source>/...) weighs the same too.
    class_balance: str = "none"
    patience: int = 5
    dropout: float = 0.2
    augment: bool = True
    feature_rounds: int = 0  # >0: fast path on cached features of a frozen backbone
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        self.weights = normalise_weights(self.weights)
        if self.arch not in PRESETS:
            raise ValueError(f"Unknown architecture {self.arch!r}; expected one of {', '.join(PRESETS)}.")
        if self.class_balance not in CLASS_BALANCES:
            raise ValueError(f"class_balance must be one of {', '.join(CLASS_BALANCES)}, got {self.class_balance!r}.")
        if self.img_size is None:
            self.img_size = PRESETS[self.arch].default_size
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1.")


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
    preset = PRESETS[config.arch]

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
    counts = {part: _counts(labels[getattr(split, part)], folder.class_names) for part in ("train", "val", "test")}
    report({"stage": "loading", "message": f"{len(labels)} images, classes {folder.class_names}, split {counts}"})

    data = {part: (pixels[getattr(split, part)], labels[getattr(split, part)]) for part in ("train", "val", "test")}
    weights = None
    if config.class_balance == "sources":
        sources = np.array([_source_of(folder.root, folder.files[i]) for i in kept])
        weights = _source_weights(labels[split.train], sources[split.train])
    split_model = _split_at_frozen_front(model) if config.feature_rounds > 0 else None
    if split_model is not None:
        history = _fit_on_features(split_model, data, config, preset.preprocessing, report, weights)
    else:
        if config.feature_rounds > 0:
            report({"stage": "training", "message": "no frozen front to cache features of: training end to end"})
        history = _fit_end_to_end(model, data, config, preset.preprocessing, report, weights)

    report({"stage": "evaluating", "message": f"{len(data['test'][1])} held-out test images"})
    metadata = BundleMetadata(
        name=config.name or f"{config.arch}-{Path(config.data).name}",
        architecture=config.arch,
        class_names=list(folder.class_names),
        input_size=int(config.img_size),
        preprocessing=preset.preprocessing,
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


# --- the two ways to fit -------------------------------------------------------------------


def _fit_end_to_end(model, data, config: TrainConfig, mode: str, report: Progress,
                    weights: np.ndarray | None = None) -> dict[str, list[float]]:
    """Ordinary ``fit`` on augmented, scaled batches streamed through tf.data."""
    train_ds = _pipeline(*data["train"], config, mode, augment=config.augment, shuffle=True, weights=weights)
    val_ds = _pipeline(*data["val"], config, mode) if len(data["val"][1]) else None
    return _compile_and_fit(model, train_ds, val_ds, data["train"][1], config, report)


def _fit_on_features(split, data, config: TrainConfig, mode: str, report: Progress,
                     weights: np.ndarray | None = None) -> dict[str, list[float]]:
    """Train only what follows the frozen front of the model, on its cached outputs."""
    extractor, trainable = split
    rounds = []
    for round_index in range(config.feature_rounds):
        report({"stage": "features", "message": f"augmentation round {round_index + 1}/{config.feature_rounds}"})
        augment = config.augment and round_index > 0  # round 0 keeps the untouched images
        # A seed per round: the same seed would replay the same "random" changes.
        pipeline = _pipeline(*data["train"], config, mode, augment=augment, augment_seed=config.seed + round_index)
        rounds.append(_features(extractor, pipeline))
    train_features = np.concatenate(rounds)
    train_labels = np.concatenate([data["train"][1]] * config.feature_rounds)
    val = None
    if len(data["val"][1]):
        val = (_features(extractor, _pipeline(*data["val"], config, mode)), data["val"][1])
    train_data = (train_features, train_labels)
    if weights is not None:
        train_data += (np.concatenate([weights] * config.feature_rounds),)
    return _compile_and_fit(trainable, train_data, val, train_labels, config, report)


def _split_at_frozen_front(model) -> tuple[Any, Any] | None:
    """``(extractor, trainable)``: the frozen front of ``model`` and a model of the rest.

    The rest is built from the model's own layers, so training it trains the
    model. Two cuts are possible: at the ``features`` layer when the whole
    backbone is frozen, or inside a partly unfrozen backbone just below its
    first trainable layer, provided everything above depends on that one
    tensor (a residual block cannot be cut in half). ``None`` when no cut fits.
    """
    import keras

    layers = model.layers
    names = [layer.name for layer in layers]
    if FEATURES_LAYER not in names:
        return None
    cut = names.index(FEATURES_LAYER)
    first_trainable = next((i for i, layer in enumerate(layers) if layer.trainable_weights), len(layers))
    if first_trainable > cut:
        head_input = keras.Input(layers[cut].output.shape[1:])
        return keras.Model(model.inputs, layers[cut].output), _chain(head_input, head_input, layers[cut + 1 :])

    backbone = layers[first_trainable]
    if first_trainable != 1 or not isinstance(backbone, keras.Model):
        return None
    inner = next(i for i, layer in enumerate(backbone.layers) if layer.trainable_weights)
    if inner == 0:
        return None
    boundary = backbone.layers[inner - 1].output
    try:
        tail = keras.Model(boundary, backbone.output)
    except ValueError:  # the layers above need more than this one tensor
        return None
    head_input = keras.Input(boundary.shape[1:])
    # training=False keeps batch-norm statistics fixed, as the saved model does.
    return keras.Model(backbone.inputs, boundary), _chain(head_input, tail(head_input, training=False), layers[2:])


def _chain(inputs, x, layers):
    """A model from ``inputs`` that applies ``layers`` in turn to ``x``."""
    import keras

    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def _compile_and_fit(model, train_data, val_data, train_labels, config: TrainConfig, report: Progress):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks: list[Any] = [_progress_callback(config.epochs, report)]
    if val_data is not None:
        callbacks.insert(0, keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True))
    arrays = isinstance(train_data, tuple)
    sample_weight = None
    if arrays and len(train_data) == 3:  # (inputs, labels, sample weights)
        train_data, sample_weight = train_data[:2], train_data[2]
    history = model.fit(
        *(train_data if arrays else (train_data,)),
        sample_weight=sample_weight,
        validation_data=val_data,
        epochs=config.epochs,
        batch_size=config.batch_size if arrays else None,
        shuffle=arrays,  # a tf.data pipeline shuffles itself
        class_weight=_class_weights(train_labels) if config.class_balance == "weights" else None,
        callbacks=callbacks,
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


# --- data ----------------------------------------------------------------------------------


def augmentation(seed: int):
    """Random changes a photo of the same class could show: framing, light, mirror.

    Kept mild: the photos already vary a lot, and stronger zoom and rotation
    (with reflected borders) gave a worse validation loss on the demo data.
    """
    import keras
    from keras import layers

    # Distinct seeds, or every layer would draw the same random stream.
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.03, fill_mode="nearest", seed=seed + 1),
            layers.RandomTranslation(0.05, 0.05, fill_mode="nearest", seed=seed + 2),
            layers.RandomZoom((-0.1, 0.1), fill_mode="nearest", seed=seed + 3),
            layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        ],
        name="augmentation",
    )


def _pipeline(pixels: np.ndarray, labels: np.ndarray, config: TrainConfig, mode: str,
              augment: bool = False, shuffle: bool = False, augment_seed: int | None = None,
              weights: np.ndarray | None = None):
    """Batches of (scaled pixels, labels[, sample weights]); augmentation acts on 0..255 pixels, before scaling."""
    import tensorflow as tf

    if weights is not None:
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, weights.astype(np.float32)))
    else:
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.batch_size)
    augmenter = augmentation(config.seed if augment_seed is None else augment_seed) if augment else None

    def prepare(batch, *rest):  # rest: labels, and sample weights when given
        batch = tf.cast(batch, tf.float32)
        if augmenter is not None:
            batch = tf.clip_by_value(augmenter(batch, training=True), 0.0, 255.0)
        return (scale_pixels(batch, mode), *rest)

    return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _features(extractor, dataset) -> np.ndarray:
    import tensorflow as tf

    infer = tf.function(lambda batch: extractor(batch, training=False))
    return np.concatenate([infer(batch).numpy() for batch, _ in dataset])


def _class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that make every class count as much as the others in the loss."""
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): float(len(labels) / (len(classes) * n)) for c, n in zip(classes, counts)}


def _source_of(root: Path, path: Path) -> str:
    """The source sub-folder of an image under its class folder ("" for one directly in it)."""
    parts = path.relative_to(root).parts
    return parts[1] if len(parts) > 2 else ""


def _source_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Per-image weights, mean 1: each class weighs the same, split equally among its sources.

    A source that is mostly one class (surveillance stills, mostly with people)
    would otherwise teach that its look alone predicts the class.
    """
    weights = np.zeros(len(labels), dtype=np.float64)
    classes = np.unique(labels)
    for label in classes:
        in_class = labels == label
        names = np.unique(sources[in_class])
        for name in names:
            members = in_class & (sources == name)
            weights[members] = len(labels) / (len(classes) * len(names) * members.sum())
    return weights


def _counts(labels: np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    return {name: int((labels == i).sum()) for i, name in enumerate(class_names)}


# --- progress and results ------------------------------------------------------------------


def _progress_callback(epochs: int, report: Progress):
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Reports each epoch with its metrics and an ETA (assuming every epoch runs)."""

        def __init__(self, epochs: int, report: Progress):
            super().__init__()
            self.epochs, self.report = epochs, report

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            done = epoch + 1
            self.report({
                "stage": "epoch",
                "epoch": done,
                "epochs": self.epochs,
                "fraction": done / self.epochs,
                "metrics": {k: float(v) for k, v in (logs or {}).items()},
                "epoch_seconds": now - self.epoch_started,
                "eta_seconds": (now - self.started) / done * (self.epochs - done),
            })

    return ProgressCallback(epochs, report)


def _test_metrics(model, metadata: BundleMetadata, pixels, labels, batch_size: int) -> dict[str, Any]:
    """Held-out metrics from the end-to-end model, fed as a Predictor feeds it."""
    from ml.evaluate import classification_metrics, predict_pixels
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


def add_training_arguments(parser: argparse.ArgumentParser, with_out: bool = True) -> None:
    """The training options, shared by this CLI and ``manage.py train`` (which stores bundles itself)."""
    parser.add_argument("--data", required=True, help="folder with one sub-folder of images per class, or s3://bucket/prefix")
    if with_out:
        parser.add_argument("--out", required=True, help="bundle folder to write")
    parser.add_argument("--arch", choices=sorted(PRESETS), default="mobilenet_v2")
    parser.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to backbone weights")
    parser.add_argument("--fine-tune", type=int, default=0, help="top N backbone layers to train (-1: all)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--img-size", type=int, default=None, help="square input size (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-split", type=float, default=0.15)
    parser.add_argument("--test-split", type=float, default=0.15)
    parser.add_argument("--class-balance", choices=CLASS_BALANCES, default="none",
                        help="weights: classes weigh the same; sources: and so do the source sub-folders within a class")
    parser.add_argument("--patience", type=int, default=5, help="early-stopping patience on val_loss")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--feature-rounds", type=int, default=0,
                        help="fast path for a frozen backbone: cache features of N augmentation rounds")
    parser.add_argument("--name", default="")
    parser.add_argument("--description", default="")


def config_from_options(options: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from parsed options (extra keys, such as a command's own, are ignored)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{key: value for key, value in options.items() if key in known})


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description="Train an image classifier into a model bundle.")
    add_training_arguments(parser)
    return config_from_options(vars(parser.parse_args(argv)))


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
