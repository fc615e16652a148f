"""Loading Keras models from disk, legacy Keras 2 files included.

Keras 3 reads ``.keras`` files natively and legacy full-model HDF5 files
(``.h5``/``.hdf5``, as Keras 2's ``ModelCheckpoint`` wrote them) only when
every layer accepts its saved constructor arguments. Keras 2 saved a few that
Keras 3 no longer takes (``groups`` on ``DepthwiseConv2D``, for one). The shims
for those live here and nowhere else: a layer subclass that drops the stale
arguments, passed as ``custom_objects`` so only legacy loading sees it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ml.bundle import BundleError

KERAS_SUFFIXES = (".keras",)
LEGACY_HDF5_SUFFIXES = (".h5", ".hdf5")

# Constructor arguments Keras 2 saved that Keras 3 layers reject, by layer class.
_LEGACY_DROPPED_ARGUMENTS = {
    "DepthwiseConv2D": ("groups",),
    "SeparableConv2D": ("groups",),
    "Conv2DTranspose": ("groups",),
}


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter before it is first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _legacy_custom_objects() -> dict[str, Any]:
    import keras

    shims: dict[str, Any] = {}
    for class_name, dropped in _LEGACY_DROPPED_ARGUMENTS.items():
        base = getattr(keras.layers, class_name)

        def from_config(cls, config, _dropped=dropped):
            config = {key: value for key, value in config.items() if key not in _dropped}
            return cls(**config)

        shims[class_name] = type(class_name, (base,), {"from_config": classmethod(from_config)})
    return shims


def load_model(path: str | Path) -> Any:
    """Load a Keras model (``.keras`` or legacy HDF5) for inference.

    Raises :class:`BundleError` with a plain message when the file is missing,
    of an unknown kind, or not a Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"Model file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES + LEGACY_HDF5_SUFFIXES:
        raise BundleError(
            f"{path.name}: unsupported model file type {suffix or '(none)'}; "
            "expected .keras, .h5 or .hdf5."
        )
    quiet_tensorflow()
    import keras

    custom_objects = _legacy_custom_objects() if suffix in LEGACY_HDF5_SUFFIXES else None
    try:
        model = keras.models.load_model(path, compile=False, custom_objects=custom_objects)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "not a model".
        raise BundleError(f"{path.name} is not a loadable Keras model: {_first_line(exc)}") from exc
    if not hasattr(model, "predict"):
        raise BundleError(f"{path.name} holds no Keras model (found {type(model).__name__}).")
    return model


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
