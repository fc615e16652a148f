"""A perceptual hash (dHash) of a frame: pictures that look the same have hashes a few bits apart.

64 bits: is each pixel of a 9×8 grey thumbnail brighter than its right
neighbour. Light changes and JPEG noise move a few bits; a person walking in
moves many. (The ``imagehash`` package computes the same with SciPy and
PyWavelets behind it; these few lines of Pillow avoid both.)
"""

from __future__ import annotations

import io

from PIL import Image

_SIZE = (9, 8)


def dhash(data: bytes, max_pixels: int) -> int | None:
    """The 64-bit difference hash of an encoded image; None when it cannot be read (the intake says why)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                return None
            image.draft("L", (_SIZE[0] * 4, _SIZE[1] * 4))  # JPEG: decode at a fraction of the size
            pixels = image.convert("L").resize(_SIZE, Image.Resampling.BILINEAR).tobytes()
    except Exception:
        return None
    bits = 0
    for row in range(_SIZE[1]):
        for col in range(_SIZE[0] - 1):
            left, right = pixels[row * _SIZE[0] + col], pixels[row * _SIZE[0] + col + 1]
            bits = (bits << 1) | (left > right)
    return bits


def distance(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()
