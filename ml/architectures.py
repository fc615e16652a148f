"""Architectures: small functions that build a Keras classifier, top to bottom.

Every model takes pixels already scaled by :func:`ml.preprocessing.scale_pixels`
(in the mode :data:`ml.config.ARCHITECTURES` names for it), because :class:`ml.predictor.Predictor` scales
before calling the model; augmentation happens outside the model, in the
training pipeline, so a saved model holds nothing that acts only in training
except dropout.

Models with a backbone name the pooled backbone output ``features``: the
training fast path cuts the model there to cache features of a frozen
backbone, and trains the layers after it (the head) on those.

``weights`` is ``"imagenet"`` (Keras downloads its copy; we fail fast when it
cannot), ``None`` (random initialisation) or a path to a weights file for the
backbone. ``fine_tune`` unfreezes the top N backbone layers; ``-1`` unfreezes all.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable, Sequence

from ml.config import ARCHITECTURES

FEATURES_LAYER = "features"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that cannot be had here, with what to do instead."""


def basic_cnn(num_classes: int, img_size: int = 128, weights: str | None = None, fine_tune: int = 0,
              dropout: float = 0.2, conv_filters: Sequence[int] = (32, 64, 128), dense_units: Sequence[int] = (32,)):
    """Convolution blocks (Conv → Dropout → MaxPool) and a small dense head, trained from scratch.

    The old notebooks used two blocks (32, 64) with Dense 32 and 16, and three
    (32, 64, 128) with Dense 64, 32 and 16: the widths are options. ``weights``
    may be a path to weights of this same model (say, a previous run); there is
    no pretrained version, so ``"imagenet"`` is refused. With no backbone, every
    layer trains and ``fine_tune`` is accepted only so that all architectures
    share one signature.
    """
    import keras
    from keras import layers

    if weights == "imagenet":
        raise WeightsUnavailableError("basic_cnn has no ImageNet weights; use weights=None or a weights file of this model.")
    inputs = keras.Input(shape=(img_size, img_size, 3))
    x = inputs
    for filters in conv_filters:
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Dropout(dropout)(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    for units in dense_units:
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="basic_cnn")
    if weights is not None:
        model.load_weights(_existing_file(weights))
    return model


def vgg16(num_classes: int, img_size: int = 224, weights: str | None = "imagenet", fine_tune: int = 0,
          dropout: float = 0.2, conv_filters: Sequence[int] = (), dense_units: Sequence[int] = (4096, 1072)):
    """VGG16 convolutions, flattened, with the old notebooks' wide dense head (4096, 1072) and a dropout."""
    import keras
    from keras import layers

    backbone = keras.applications.VGG16(
        input_shape=(img_size, img_size, 3), include_top=False, weights=_keras_weights("vgg16", weights, img_size)
    )
    _load_backbone_weights(backbone, weights)
    _set_trainable(backbone, weights, fine_tune)

    inputs = keras.Input(shape=(img_size, img_size, 3))
    x = backbone(inputs, training=_backbone_training(weights))
    x = layers.Flatten(name=FEATURES_LAYER)(x)
    for units in dense_units:
        x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg16")


def mobilenet_v2(num_classes: int, img_size: int = 224, weights: str | None = "imagenet", fine_tune: int = 0,
                 dropout: float = 0.2, conv_filters: Sequence[int] = (), dense_units: Sequence[int] = ()):
    """MobileNetV2 (width 1.0), average-pooled, with optional dense layers, a dropout and a softmax head."""
    import keras
    from keras import layers

    backbone = keras.applications.MobileNetV2(
        input_shape=(img_size, img_size, 3),
        alpha=1.0,
        include_top=False,
        weights=_keras_weights("mobilenet_v2", weights, img_size),
    )
    _load_backbone_weights(backbone, weights)
    _set_trainable(backbone, weights, fine_tune)

    inputs = keras.Input(shape=(img_size, img_size, 3))
    x = backbone(inputs, training=_backbone_training(weights))
    x = layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    for units in dense_units:
        x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


#: The builder of each architecture of :data:`ml.config.ARCHITECTURES`.
BUILDERS: dict[str, Callable[..., Any]] = {"basic_cnn": basic_cnn, "vgg16": vgg16, "mobilenet_v2": mobilenet_v2}


def build_model(arch: str, num_classes: int, img_size: int, weights: str | None, fine_tune: int = 0,
                dropout: float = 0.2, conv_filters: Sequence[int] | None = None, dense_units: Sequence[int] | None = None):
    """Build an architecture by name, checking what Keras would reject less clearly.

    ``conv_filters`` and ``dense_units`` of None take the architecture's own widths.
    """
    if arch not in BUILDERS:
        raise ValueError(f"Unknown architecture {arch!r}; expected one of {', '.join(BUILDERS)}.")
    spec = ARCHITECTURES[arch]
    if img_size < spec.min_size:
        raise ValueError(f"{arch} needs images of at least {spec.min_size} px, got {img_size}.")
    widths = {"conv_filters": spec.conv_filters if conv_filters is None else tuple(conv_filters),
              "dense_units": spec.dense_units if dense_units is None else tuple(dense_units)}
    return BUILDERS[arch](num_classes, img_size=img_size, weights=weights, fine_tune=fine_tune, dropout=dropout, **widths)


# --- backbone weights ----------------------------------------------------------------------

# The files Keras downloads for weights="imagenet" (keras.applications source).
_WEIGHTS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_IMAGENET_FILES = {
    "vgg16": "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenet_v2": "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
}
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)


def _keras_weights(arch: str, weights: str | None, img_size: int) -> str | None:
    """What to pass to ``keras.applications``: "imagenet" only when it can be had now."""
    if weights != "imagenet":
        return None
    if arch == "mobilenet_v2":
        # Keras picks the file for the nearest trained size; 224 otherwise.
        img_size = img_size if img_size in _MOBILENET_V2_SIZES else 224
    relative = _IMAGENET_FILES[arch].format(size=img_size)
    filename = relative.rsplit("/", 1)[-1]
    if not any((cache / "models" / filename).is_file() for cache in _keras_cache_dirs()) and not _online():
        raise WeightsUnavailableError(
            f"ImageNet weights for {arch} are not in the Keras cache and there is no internet "
            f"connection to download them. Either download {_WEIGHTS_BASE_URL}{relative} into "
            f"~/.keras/models/{filename}, or pass a local backbone weights file with "
            f"--weights PATH (weights=PATH), e.g. ../shared/weights/mobilenet_v2_1.0_imagenet_notop.weights.h5."
        )
    return "imagenet"


def _keras_cache_dirs() -> list[Path]:
    # Keras uses $KERAS_HOME, else ~/.keras, and falls back to /tmp/.keras when read-only.
    dirs = [Path(os.environ["KERAS_HOME"])] if os.environ.get("KERAS_HOME") else []
    return dirs + [Path.home() / ".keras", Path("/tmp/.keras")]


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """A short TCP probe, so offline machines fail in seconds instead of a long download timeout."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_backbone_weights(backbone: Any, weights: str | None) -> None:
    if weights is not None and weights != "imagenet":
        backbone.load_weights(_existing_file(weights))


def _existing_file(path: str) -> str:
    if not Path(path).is_file():
        raise WeightsUnavailableError(f"Weights file {path} does not exist.")
    return str(path)


def _set_trainable(backbone: Any, weights: str | None, fine_tune: int) -> None:
    """Freeze a pretrained backbone except its top ``fine_tune`` layers.

    A randomly initialised backbone is always trained whole: frozen random
    filters would only add noise.
    """
    if weights is None or fine_tune < 0:
        backbone.trainable = True
        return
    backbone.trainable = fine_tune > 0
    if fine_tune > 0:
        for layer in backbone.layers[:-fine_tune]:
            layer.trainable = False


def _backbone_training(weights: str | None) -> bool | None:
    """Keep pretrained batch-norm statistics fixed, even while fine-tuning.

    Updating them on small batches of a small dataset wrecks what the backbone
    learned (the keras.io transfer-learning guide does the same); a backbone
    trained from scratch does need them updated.
    """
    return False if weights is not None else None
