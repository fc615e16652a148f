"""Tiny generated images and datasets for the ml tests (no files from outside the test)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"blue": (30, 40, 220), "red": (220, 30, 40), "green": (30, 200, 60)}


def shared_dir() -> Path:
    """The shared data folder: $SHARED_DIR, else ``shared`` beside the repository."""
    return Path(os.environ.get("SHARED_DIR") or Path(__file__).resolve().parents[2].parent / "shared")


def coloured_square(colour: tuple, size: int, rng: np.random.Generator) -> Image.Image:
    """A noisy grey background with a square of ``colour`` somewhere on it."""
    pixels = rng.integers(90, 160, size=(size, size, 3)).astype(np.uint8)
    side = int(rng.integers(size // 2, size - 1))
    x, y = rng.integers(0, size - side + 1, size=2)
    pixels[y : y + side, x : x + side] = colour
    return Image.fromarray(pixels)


def make_dataset(root: Path, classes=("blue", "red"), per_class: int = 12, size: int = 24, seed: int = 0) -> Path:
    """A class-folder dataset of coloured squares: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            coloured_square(COLOURS[name], size, rng).save(root / name / f"{name}_{i:03d}.png")
    return root
