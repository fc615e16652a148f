"""Loading Keras models from disk, legacy Keras 2 files included.

Keras 3 reads ``.keras`` files natively and legacy full-model HDF5 files
(``.h5``/``.hdf5``, as Keras 2's ``ModelCheckpoint`` wrote them) only when
every layer accepts its saved constructor arguments. Keras 2 saved a few that
Keras 3 no longer takes (``groups`` on ``DepthwiseConv2D``, for one). The shim
for those lives here and nowhere else: the legacy file's saved configuration is
rewritten without the stale arguments (in a temporary copy), so the loaded
model is built from standard Keras layers and saves cleanly as ``.keras``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ml.bundle import BundleError
from ml.errors import first_line

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


def _strip_legacy_arguments(node: Any) -> Any:
    """Drop constructor arguments Keras 3 rejects from every layer config in ``node``."""
    if isinstance(node, dict):
        dropped = _LEGACY_DROPPED_ARGUMENTS.get(node.get("class_name"), ())
        if dropped and isinstance(node.get("config"), dict):
            node["config"] = {k: v for k, v in node["config"].items() if k not in dropped}
        return {key: _strip_legacy_arguments(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_strip_legacy_arguments(item) for item in node]
    return node


def _load_legacy_hdf5(path: Path, keras: Any) -> Any:
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        patched = Path(tmp) / path.name
        shutil.copyfile(path, patched)
        with h5py.File(patched, "r+") as handle:
            raw = handle.attrs.get("model_config")
            if raw is None:
                raise BundleError(
                    f"{path.name} has no saved model configuration: it is weights only, or not a Keras model."
                )
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            handle.attrs["model_config"] = json.dumps(_strip_legacy_arguments(config))
        return keras.models.load_model(patched, compile=False)


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

    try:
        if suffix in LEGACY_HDF5_SUFFIXES:
            model = _load_legacy_hdf5(path, keras)
        else:
            model = keras.models.load_model(path, compile=False)
    except BundleError:
        raise
    except Exception as exc:  # Keras raises many types for a bad file; all mean "not a model".
        raise BundleError(f"{path.name} is not a loadable Keras model: {first_line(exc)}") from exc
    if not hasattr(model, "predict"):
        raise BundleError(f"{path.name} holds no Keras model (found {type(model).__name__}).")
    return model


def input_size_of(model: Any) -> int | None:
    """The square input side a model declares, or None when it is not fixed and square."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    height, width = shape[1], shape[2]
    return int(height) if height and height == width else None


def output_count_of(model: Any) -> int:
    return int(model.output_shape[-1])


def save_as_keras(model: Any, directory: str | Path) -> Path:
    """Save in the native ``.keras`` format, so serving never needs the legacy shims."""
    from ml.bundle import MODEL_FILENAME

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILENAME
    model.save(path)
    return path
