"""Image datasets: a folder with one sub-folder per class, split and decoded.

A dataset here is ``ROOT/<class name>/<image files>`` (the pre-split and zip
layouts of :mod:`ml.layouts` are made of such folders), so a user's upload,
the demo dataset and the tests all go through the same checks. Class names are the sub-folder names in sorted order, which fixes the
order of the model's outputs. Splits are stratified and depend only on the
seed, so a run can be repeated and its test set named.

:func:`ml.demo_data.build_demo_dataset` lays the shared photos out in this form.
"""

from __future__ import annotations

import csv
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ml.preprocessing import input_pixels

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")



class DatasetError(ValueError):
    """A dataset that cannot be trained on, with a message for people."""


@dataclass
class ImageFolder:
    """The files of a class-folder dataset and their integer labels."""

    root: Path
    class_names: list[str]
    files: list[Path]
    labels: np.ndarray  # int, index into class_names
    sources: list[str]  # each file's source sub-folder under its class folder ("" when directly in it)

    def counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        return class_counts(self.labels if indices is None else self.labels[indices], self.class_names)


def class_counts(labels: np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    """Images per class name, for integer ``labels`` indexing ``class_names``."""
    return {name: int((labels == i).sum()) for i, name in enumerate(class_names)}


@dataclass
class Split:
    """Indices into an :class:`ImageFolder` for each part of a split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def scan_image_folder(root: str | Path) -> ImageFolder:
    """List a class-folder dataset, refusing layouts that cannot train a classifier."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Dataset folder {root} does not exist.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = ", ".join(p.name for p in class_dirs) or "none"
        raise DatasetError(
            f"Dataset folder {root} needs at least two class sub-folders (one per class); found {found}."
        )
    files: list[Path] = []
    labels: list[int] = []
    sources: list[str] = []
    for label, class_dir in enumerate(class_dirs):
        images = sorted(
            p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not images:
            raise DatasetError(
                f"Class {class_dir.name!r} in {root} has no images "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})."
            )
        files.extend(images)
        labels.extend([label] * len(images))
        sources.extend(p.relative_to(class_dir).parts[0] if len(p.relative_to(class_dir).parts) > 1 else ""
                       for p in images)
    return ImageFolder(root, [p.name for p in class_dirs], files, np.array(labels, dtype=np.int64), sources)


def stratified_split(labels: np.ndarray, val_split: float, test_split: float, seed: int) -> Split:
    """Split indices class by class so every part keeps the class proportions.

    Each class gives at least one image to a part whose fraction is above zero
    (when it has three or more images), so a small class is never missing from
    validation or test.
    """
    if not 0 <= val_split < 1 or not 0 <= test_split < 1 or val_split + test_split >= 1:
        raise DatasetError(
            f"val_split ({val_split}) and test_split ({test_split}) must be in [0, 1) and sum below 1."
        )
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = _part_size(len(members), len(members), test_split)
        n_val = _part_size(len(members), len(members) - n_test, val_split)
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return Split(**{name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()})


def _part_size(total: int, available: int, fraction: float) -> int:
    """Images a part takes: its fraction of the class, at least one, leaving one to train."""
    if fraction <= 0 or available < 2:
        return 0
    return min(available - 1, max(1, round(total * fraction)))


def load_pixels(files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize images with :func:`ml.preprocessing.input_pixels`, as serving does.

    Returns uint8 pixels (N, size, size, 3) and the indices of the files that
    decoded. An unreadable file is skipped with a warning: one corrupt photo
    among thousands should not cost a training run.
    """
    pixels, kept = [], []
    for index, path in enumerate(files):
        try:
            pixels.append(input_pixels(path, size))
        except Exception as exc:  # Pillow raises many types for a bad file; all mean "skip it".
            warnings.warn(f"Skipping unreadable image {path}: {exc}", stacklevel=2)
            continue
        kept.append(index)
    if not pixels:
        return np.zeros((0, size, size, 3), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    return np.stack(pixels), np.array(kept, dtype=np.int64)


def read_labels_csv(path: str | Path) -> tuple[list[Path], list[str]]:
    """Files and labels from a ``file,label`` CSV; files are relative to the CSV."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path} must have a header with 'file' and 'label' columns.")
        rows = list(reader)
    if not rows:
        raise DatasetError(f"{path} lists no images.")
    return [path.parent / row["file"] for row in rows], [row["label"] for row in rows]


def link_or_copy(source: Path, link: Path) -> None:
    try:
        os.symlink(source, link)
    except OSError:  # file systems without symlinks (some Windows setups)
        shutil.copyfile(source, link)
