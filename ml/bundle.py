"""Model bundles: a Keras model file plus the metadata needed to serve it.

A bundle is a folder holding ``model.keras`` and ``metadata.json``. The
metadata names the classes (in the order of the model's outputs), the square
input size and the preprocessing, so a worker never has to guess how a model
was trained. Reports (curves, confusion matrices) may sit beside them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.preprocessing import PREPROCESSING_MODES

MODEL_FILENAME = "model.keras"
METADATA_FILENAME = "metadata.json"
#: The validation split's decoded pixels and labels, beside the model: what int8 is calibrated and checked on.
VALIDATION_FILENAME = "validation.npz"
#: At most this many validation images are kept (a seeded sample beyond it): 500 at 224 px are about 40 MB.
VALIDATION_KEPT = 500
FORMAT_VERSION = 1


class BundleError(ValueError):
    """A bundle or model file that cannot be used, with a message for people."""


@dataclass
class BundleMetadata:
    name: str
    architecture: str
    class_names: list[str]
    input_size: int
    preprocessing: str
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Divides the logits before the softmax (temperature scaling, :mod:`ml.calibration`); 1.0: as trained.
    temperature: float = 1.0
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise BundleError("class_names must be a non-empty list of distinct names.")
        if self.preprocessing not in PREPROCESSING_MODES:
            raise BundleError(
                f"Unknown preprocessing {self.preprocessing!r}; "
                f"expected one of {', '.join(PREPROCESSING_MODES)}."
            )
        if not isinstance(self.input_size, int) or not 8 <= self.input_size <= 1024:
            raise BundleError(f"input_size must be an integer between 8 and 1024, got {self.input_size!r}.")
        if not isinstance(self.temperature, (int, float)) or not 0.01 <= self.temperature <= 100:
            raise BundleError(f"temperature must be a number between 0.01 and 100, got {self.temperature!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BundleMetadata":
        known = {f.name for f in dataclasses.fields(cls)}
        missing = {"name", "architecture", "class_names", "input_size", "preprocessing"} - data.keys()
        if missing:
            raise BundleError(f"Bundle metadata lacks {', '.join(sorted(missing))}.")
        return cls(**{key: value for key, value in data.items() if key in known})


def read_metadata(path: str | Path) -> BundleMetadata:
    """Read ``metadata.json`` from a bundle folder or the file itself."""
    path = Path(path)
    if path.is_dir():
        path = path / METADATA_FILENAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"No bundle metadata at {path}.") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"Bundle metadata at {path} is not valid JSON: {exc}.") from exc
    return BundleMetadata.from_dict(data)


def write_metadata(metadata: BundleMetadata, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / METADATA_FILENAME
    path.write_text(json.dumps(metadata.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def save_bundle(model: Any, metadata: BundleMetadata, directory: str | Path) -> Path:
    """Write ``model`` and its metadata into ``directory``; return the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILENAME)
    write_metadata(metadata, directory)
    return directory


def write_validation(directory: str | Path, pixels: np.ndarray, labels: np.ndarray, seed: int = 0) -> Path | None:
    """Keep the validation split (uint8 pixels, class indices) with the bundle; None when it is empty.

    Training tuned early stopping and the temperature on these images; they
    are the version's own yardstick, kept so that later checks (int8,
    :mod:`ml.quantization`) need neither the dataset nor its split again.
    """
    if not len(labels):
        return None
    if len(labels) > VALIDATION_KEPT:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), VALIDATION_KEPT, replace=False))
        pixels, labels = pixels[keep], labels[keep]
    path = Path(directory) / VALIDATION_FILENAME
    np.savez_compressed(path, pixels=np.asarray(pixels, dtype=np.uint8), labels=np.asarray(labels, dtype=np.int64))
    return path


def read_validation(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The pixels and labels :func:`write_validation` kept."""
    with np.load(path, allow_pickle=False) as data:
        return data["pixels"], data["labels"]
