"""Drawing helpers for :mod:`ml.synth`: placing, warping and finishing pasted objects.

Every function takes the image's own random generator, so a synthesised image
depends only on its seed and index. Only NumPy and Pillow are used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter


def paste(canvas: Image.Image, item: Image.Image, rng: np.random.Generator, scale: tuple[float, float]) -> None:
    """Paste ``item`` at a random size (fraction of the canvas) and place, rotated a little."""
    target = rng.uniform(*scale) * min(canvas.size)
    factor = target / max(item.size)
    item = item.resize((max(1, round(item.width * factor)), max(1, round(item.height * factor))), Image.Resampling.LANCZOS)
    item = item.rotate(float(rng.normal(0, 8)), resample=Image.Resampling.BICUBIC, expand=True)
    x = int(rng.integers(min(0, canvas.width - item.width), max(1, canvas.width - item.width + 1)))
    y = int(rng.integers(min(0, canvas.height - item.height), max(1, canvas.height - item.height + 1)))
    canvas.paste(item, (x, y), item)


def perspective(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Warp as if seen from slightly off-axis: each corner moves up to ``strength`` of the size."""
    width, height = image.size
    corners = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float64)
    moved = corners + rng.uniform(-strength, strength, size=(4, 2)) * (width, height)
    moved -= moved.min(axis=0)
    out_size = tuple(int(v) + 1 for v in moved.max(axis=0))
    coefficients = perspective_coefficients(moved, corners)
    return image.transform(out_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


def perspective_coefficients(destination: np.ndarray, source: np.ndarray) -> tuple:
    """Pillow wants the map from output to input corners, as 8 coefficients."""
    rows = []
    for (x, y), (u, v) in zip(destination, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(np.linalg.solve(np.array(rows), source.reshape(8)))


def side_shading(image: Image.Image, rng: np.random.Generator) -> None:
    """Darken one side a little, as light falls on a real bag, keeping alpha."""
    width, height = image.size
    ramp = np.linspace(1.0, rng.uniform(0.7, 1.0), width, dtype=np.float32)
    if rng.random() < 0.5:
        ramp = ramp[::-1]
    pixels = np.asarray(image).astype(np.float32)
    pixels[..., :3] *= ramp[None, :, None]
    image.paste(Image.fromarray(pixels.clip(0, 255).astype(np.uint8), mode="RGBA"))


def photo_finish(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Blur and noise so pasted edges are not sharper than the photo around them."""
    radius = float(rng.uniform(0.0, 1.2))
    if radius > 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius))
    pixels = np.asarray(canvas).astype(np.float32)
    pixels += rng.normal(0, rng.uniform(0, 6), size=pixels.shape)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def jitter(colour: tuple, rng: np.random.Generator, amount: int) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def shade(colour: tuple, factor: float) -> tuple:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)
