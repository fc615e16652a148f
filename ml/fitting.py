"""Fitting a built model: the two ways to fit, the input pipeline, augmentation and loss weights.

:func:`ml.train.train` decides what to train on; this module does the fitting.
End to end, augmented batches stream through ``tf.data``. On the fast path
(``feature_rounds > 0`` with a pretrained backbone that is frozen, or frozen
below its top ``fine_tune`` layers), the frozen front's outputs are computed
once per augmentation round (round 1 unaugmented) and only the rest of the
model is trained on them: each image is seen in ``feature_rounds`` variants
instead of a fresh one every epoch, at a fraction of the CPU time. Either way
the model that comes out is the whole end-to-end model.

Pixels reach the model as :mod:`ml.preprocessing` prepares them for serving:
``uint8`` input pixels, augmented (training only), then :func:`scale_pixels`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ml.architectures import FEATURES_LAYER
from ml.config import TrainConfig
from ml.preprocessing import scale_pixels

Progress = Callable[[dict[str, Any]], None]


# --- the two ways to fit -------------------------------------------------------------------


def fit_end_to_end(model, data, config: TrainConfig, mode: str, report: Progress,
                   weights: np.ndarray | None = None) -> dict[str, list[float]]:
    """Ordinary ``fit`` on augmented, scaled batches streamed through tf.data."""
    augment = config.augmentation != "none"
    train_ds = pipeline(*data["train"], config, mode, augment=augment, shuffle=True, weights=weights)
    val_ds = pipeline(*data["val"], config, mode) if len(data["val"][1]) else None
    return _compile_and_fit(model, train_ds, val_ds, data["train"][1], config, report)


def fit_on_features(split, data, config: TrainConfig, mode: str, report: Progress,
                    weights: np.ndarray | None = None) -> dict[str, list[float]]:
    """Train only what follows the frozen front of the model, on its cached outputs."""
    extractor, trainable = split
    infer = _traced(extractor)  # one trace for every round and the validation split
    rounds = []
    for round_index in range(config.feature_rounds):
        report({"stage": "features", "message": f"augmentation round {round_index + 1}/{config.feature_rounds}"})
        augment = config.augmentation != "none" and round_index > 0  # round 0 keeps the untouched images
        # A seed per round: the same seed would replay the same "random" changes.
        batches = pipeline(*data["train"], config, mode, augment=augment, augment_seed=config.seed + round_index)
        rounds.append(_features(infer, batches))
    train_features = np.concatenate(rounds)
    train_labels = np.concatenate([data["train"][1]] * config.feature_rounds)
    val = None
    if len(data["val"][1]):
        val = (_features(infer, pipeline(*data["val"], config, mode)), data["val"][1])
    train_data = (train_features, train_labels)
    if weights is not None:
        train_data += (np.concatenate([weights] * config.feature_rounds),)
    return _compile_and_fit(trainable, train_data, val, train_labels, config, report)


def split_at_frozen_front(model) -> tuple[Any, Any] | None:
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

    arrays = isinstance(train_data, tuple)
    steps = int(np.ceil(len(train_labels) / config.batch_size)) if arrays else len(train_data)
    model.compile(
        optimizer=keras.optimizers.Adam(_learning_rate(config, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks: list[Any] = [_progress_callback(config.epochs, report)]
    if val_data is not None:
        callbacks.insert(0, keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True))
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


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    """Adam's learning rate: constant, or decaying along a cosine to zero over every epoch's steps."""
    import keras

    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, max(1, steps_per_epoch * config.epochs))
    return config.learning_rate


# --- data ----------------------------------------------------------------------------------


def augmentation(kind: str, seed: int):
    """Random changes a photo of the same class could show: framing, light, mirror.

    ``mild`` is this project's default: the photos already vary a lot, and
    stronger zoom and rotation gave a worse validation loss on the demo data.
    ``notebook`` is the old notebooks' ``ImageDataGenerator(rotation_range=40,
    width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
    zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")``; its shear is
    0.2 degrees (ImageDataGenerator's unit), kept as it was.
    """
    import math

    import keras
    from keras import layers

    # Distinct seeds, or every layer would draw the same random stream.
    if kind == "notebook":
        steps = [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(40 / 360, fill_mode="nearest", seed=seed + 1),
            layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=seed + 2),
            layers.RandomShear(x_factor=math.tan(math.radians(0.2)), fill_mode="nearest", seed=seed + 3),
            layers.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=seed + 4),
        ]
    else:
        steps = [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.03, fill_mode="nearest", seed=seed + 1),
            layers.RandomTranslation(0.05, 0.05, fill_mode="nearest", seed=seed + 2),
            layers.RandomZoom((-0.1, 0.1), fill_mode="nearest", seed=seed + 3),
            layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        ]
    return keras.Sequential(steps, name="augmentation")


def pipeline(pixels: np.ndarray, labels: np.ndarray, config: TrainConfig, mode: str,
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
    seed = config.seed if augment_seed is None else augment_seed
    augmenter = augmentation(config.augmentation, seed) if augment and config.augmentation != "none" else None

    def prepare(batch, *rest):  # rest: labels, and sample weights when given
        batch = tf.cast(batch, tf.float32)
        if augmenter is not None:
            batch = tf.clip_by_value(augmenter(batch, training=True), 0.0, 255.0)
        return (scale_pixels(batch, mode), *rest)

    return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _traced(extractor):
    import tensorflow as tf

    return tf.function(lambda batch: extractor(batch, training=False), reduce_retracing=True)


def _features(infer, dataset) -> np.ndarray:
    return np.concatenate([infer(batch).numpy() for batch, _ in dataset])


def _class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that make every class count as much as the others in the loss."""
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): float(len(labels) / (len(classes) * n)) for c, n in zip(classes, counts)}


def source_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
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
