"""The one preprocessing path shared by training, evaluation and serving.

A model only sees what this module produces, in two stages:

1. :func:`input_pixels`: decode an image (bytes, a path or a PIL image), make
   it upright RGB and squash it to the model's square input size with bilinear
   resampling: ``uint8`` pixels. Training decodes its files once through it and
   caches the pixels; serving decodes each upload through it.
2. :func:`scale_pixels`: scale a float batch of those pixels the way the
   model's backbone expects. Training applies it in its ``tf.data`` pipeline,
   after augmentation; serving and evaluation apply it to the stacked batch.

:func:`prepare_batch` is the two stages for serving; training composes the same
two functions around its augmentation, and a test feeds the same files
(every Pillow mode, EXIF rotation) through both paths and compares the arrays.
Only NumPy and Pillow are used here: the web process validates uploads with
:func:`open_image` without ever importing TensorFlow.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from PIL import Image, ImageOps

ImageSource = Union[bytes, bytearray, memoryview, str, Path, Image.Image]

#: How pixel values (0..255 floats) become model inputs: each mode's name and what it does.
PREPROCESSING_MODES = {
    "mobilenet": "Scale to [-1, 1] (MobileNet)",
    "rescale": "Scale to [0, 1]",
    "vgg16": "Caffe BGR mean subtraction (VGG16)",
    "none": "Raw 0..255 pixels",
}

# Caffe-style ImageNet means (BGR), as keras.applications.vgg16.preprocess_input uses.
_VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def open_image(source: ImageSource, *, reduce_to: int | None = None) -> Image.Image:
    """Decode ``source`` fully and return an upright RGB image.

    Decoding is forced (``load()``) so truncated files fail here, not later in
    a worker. EXIF orientation is applied because phones store photos sideways
    and only tag the rotation. With ``reduce_to``, a JPEG is decoded at the
    smallest of its 1/2, 1/4 or 1/8 scales that is still at least that many
    pixels on each side (libjpeg's draft mode): a 24-megapixel photo bound for a
    224-pixel input never exists in memory at full size. A file it opens itself
    is rotated in place and a deep image dropped as soon as its 8-bit copy
    exists, so at most about two copies of the pixels exist at once; an image
    it is given is left as it was.
    """
    owned = not isinstance(source, Image.Image)
    if not owned:
        image = source
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            image = Image.open(io.BytesIO(fh.read()))
    else:
        image = Image.open(io.BytesIO(bytes(source)))
    if reduce_to and image.format == "JPEG":
        image.draft("RGB", (reduce_to, reduce_to))
    image.load()
    if owned:
        ImageOps.exif_transpose(image, in_place=True)  # no copy when there is nothing to rotate
    else:
        image = ImageOps.exif_transpose(image)
    if image.mode in DEEP_MODES:
        image = _deep_to_grey(image)  # the 16/32-bit pixels go before the RGB ones are made
    return to_rgb(image)


#: Modes with more than 8 bits per channel: rescaled to 0..255 band by band.
DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_BAND_PIXELS = 1 << 20  # pixels converted at a time: a few MB of temporaries, whatever the image size


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB without surprises.

    Transparent pixels are composited on white (a transparent logo on black
    would look nothing like the same logo on a page), and 16/32-bit integer or
    float images are rescaled to 0..255 instead of being clipped to white.
    """
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in DEEP_MODES:
        return _deep_to_grey(image).convert("RGB")
    return image.convert("RGB")


def _deep_to_grey(image: Image.Image) -> Image.Image:
    """Stretch a 16/32-bit or float greyscale image's range onto 0..255, a band of rows at a time.

    The whole image never exists as a wide array: only the 8-bit result and
    one band's temporaries (integers stay integers; floats use float32). A
    pixel maps to ``floor((value - low) * 255 / (high - low))``.
    """
    low, high = image.getextrema()
    width, height = image.size
    grey = np.empty((height, width), dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = np.asarray(image.crop((0, top, width, min(height, top + rows))))
        if high <= low:
            grey[top:top + rows] = 0
        elif image.mode == "F":
            scaled = (band.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
            grey[top:top + rows] = np.clip(np.rint(np.nan_to_num(scaled)), 0, 255)
        else:
            grey[top:top + rows] = (band.astype(np.int64) - int(low)) * 255 // (int(high) - int(low))
    return Image.fromarray(grey, mode="L")


def scale_pixels(batch: np.ndarray, mode: str) -> np.ndarray:
    """Scale a float32 batch of RGB pixels in 0..255 for a backbone.

    Only arithmetic and slicing, so it works on NumPy arrays (serving) and on
    TensorFlow tensors inside a ``tf.data`` pipeline (training) alike.
    """
    if mode == "mobilenet":
        return batch / 127.5 - 1.0
    if mode == "rescale":
        return batch / 255.0
    if mode == "vgg16":
        return batch[..., ::-1] - _VGG_MEAN_BGR
    if mode == "none":
        return batch
    raise ValueError(
        f"Unknown preprocessing {mode!r}; expected one of {', '.join(PREPROCESSING_MODES)}."
    )


def thumbnail_jpeg(image: Image.Image, side: int) -> bytes:
    """A JPEG of ``image`` at most ``side`` pixels a side, resized straight from it (no full-size copy), without metadata."""
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    thumb = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) if size != image.size else image.copy()
    thumb.info = {}
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def input_pixels(source: ImageSource, size: int) -> np.ndarray:
    """Stage 1: decode ``source`` and squash it to ``size``×``size`` upright RGB ``uint8`` pixels."""
    image = open_image(source, reduce_to=size)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def prepare_batch(sources: Iterable[ImageSource], size: int, mode: str) -> np.ndarray:
    """Both stages for a batch of images (bytes, paths or PIL images): model-ready float32 inputs."""
    pixels = [input_pixels(source, size) for source in sources]
    if not pixels:
        return np.zeros((0, size, size, 3), dtype=np.float32)
    return scale_pixels(np.stack(pixels).astype(np.float32), mode).astype(np.float32, copy=False)
