"""The dataset layouts training reads, told apart so none is misread.

- Class folders: ``ROOT/<class>/<images>`` (images may sit in source
  sub-folders, ``ROOT/<class>/<source>/<images>``); training splits them.
- Pre-split folders: ``ROOT/train/<class>/...``, ``ROOT/val/...`` (or
  ``validation``, ``valid``), ``ROOT/test/...``, used as given; a missing
  ``val`` is carved from ``train`` with the configured share.
- A ``.zip`` of either (the old project's data came as one), possibly holding
  one top folder.

Anything that could be read two ways is refused with a message that says what
was found: split folders beside class folders, split folders whose classes
differ, class folders that each hold their own train/val/test.
"""

from __future__ import annotations

import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from ml.datasets import DatasetError, ImageFolder, Split, scan_image_folder

SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}
#: Refuse archives that would unpack to more than this (a zip bomb, or the wrong file).
MAX_UNPACKED_BYTES = 50 * 2**30


@contextmanager
def dataset_root(data: str | Path) -> Iterator[Path]:
    """The folder to read ``data`` from: itself, or a zip unpacked into a temporary folder for the block."""
    path = Path(data)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DatasetError(f"{path} is a file but not a zip archive; give a folder or a .zip.")
        with tempfile.TemporaryDirectory(prefix="dataset-") as scratch:
            yield _single_top_folder(unpack(path, Path(scratch)))
        return
    if not path.is_dir():
        raise DatasetError(f"Dataset folder {path} does not exist.")
    yield path


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a zip safely: no member may leave ``into``, and the whole must fit :data:`MAX_UNPACKED_BYTES`."""
    with zipfile.ZipFile(archive) as opened:
        members = [info for info in opened.infolist() if not info.is_dir()]
        total = sum(info.file_size for info in members)
        if total > MAX_UNPACKED_BYTES:
            raise DatasetError(f"{archive.name} would unpack to {total / 2**30:.1f} GiB; the limit is "
                               f"{MAX_UNPACKED_BYTES / 2**30:.0f} GiB.")
        for info in members:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if not parts or PurePosixPath(info.filename).is_absolute() or ".." in parts:
                raise DatasetError(f"{archive.name} holds {info.filename!r}, which would land outside its folder.")
            if parts[0] == "__MACOSX" or parts[-1].startswith("."):
                continue  # macOS resource forks and hidden files are not images
            target = into.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with opened.open(info) as source, open(target, "wb") as sink:
                sink.write(source.read())
    return into


def _single_top_folder(root: Path) -> Path:
    """An archive of ``data/train/...`` is read as ``train/...``: descend through a lone top folder."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    while len(entries) == 1 and entries[0].is_dir() and entries[0].name.lower() not in SPLIT_NAMES:
        inner = [p for p in entries[0].iterdir() if not p.name.startswith(".")]
        if not any(p.is_dir() for p in inner):
            break
        root, entries = entries[0], inner
    return root


def read_layout(root: Path) -> tuple[ImageFolder, Split | None]:
    """The images of ``root`` and, for a pre-split layout, the split it gives (None: split it yourself)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    splits = {p: SPLIT_NAMES[p.name.lower()] for p in folders if p.name.lower() in SPLIT_NAMES}
    if not splits:
        _refuse_splits_inside_classes(root, folders)
        return scan_image_folder(root), None
    others = [p.name for p in folders if p not in splits]
    if others:
        raise DatasetError(
            f"{root} holds split folders ({', '.join(p.name for p in splits)}) beside other folders "
            f"({', '.join(others)}): give either one folder per class, or train/val/test folders "
            "that each hold the same class folders."
        )
    if len(set(splits.values())) != len(splits):
        raise DatasetError(f"{root} holds more than one folder for the same split: {', '.join(p.name for p in splits)}.")
    if "train" not in splits.values():
        raise DatasetError(f"{root} holds {', '.join(p.name for p in splits)} but no train/ folder.")
    parts = {name: scan_image_folder(path) for path, name in splits.items()}
    classes = parts["train"].class_names
    for name, part in parts.items():
        if part.class_names != classes:
            raise DatasetError(
                f"{name}/ holds the classes {', '.join(part.class_names)} but train/ holds "
                f"{', '.join(classes)}: every split needs the same class folders."
            )
    return _joined(root, classes, parts)


def _joined(root: Path, classes: list[str], parts: dict[str, ImageFolder]) -> tuple[ImageFolder, Split]:
    files, labels, sources, indices, start = [], [], [], {}, 0
    for name in ("train", "val", "test"):
        part = parts.get(name)
        count = len(part.files) if part else 0
        if part:
            files += part.files
            labels.append(part.labels)
            sources += part.sources
        indices[name] = np.arange(start, start + count)
        start += count
    folder = ImageFolder(root, classes, files, np.concatenate(labels), sources)
    return folder, Split(**indices)


def _refuse_splits_inside_classes(root: Path, folders: list[Path]) -> None:
    inside = [p.name for p in folders
              if {c.name.lower() for c in p.iterdir() if c.is_dir()} & SPLIT_NAMES.keys()]
    if inside and len(inside) == len(folders):
        raise DatasetError(
            f"The class folders of {root} ({', '.join(inside)}) each hold train/val/test folders: "
            "put the split folders at the top (ROOT/train/<class>/...) so they are used as given."
        )
