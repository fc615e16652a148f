"""Checking an uploaded image before anything is stored.

Every source (form, API, webcam) goes through :func:`validate_image`, so the
same file gets the same answer everywhere. The checks run cheapest first: byte
size, then the header (format and pixel count, before decoding, so a
decompression bomb is refused without being expanded, and whether the file is
large enough to hold that many pixels at all), then a full decode through the
same code the model uses. What is stored is re-encoded from the decoded pixels
without any metadata (:mod:`classification.intake.sanitize`).
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from classification.intake import sanitize

#: Pillow format name -> extension of the stored file.
ALLOWED_FORMATS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tiff",
    "MPO": "jpg",  # multi-picture JPEG from phone cameras
}


class ImageRejected(ValueError):
    """An upload that will not be classified; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_image"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ValidatedImage:
    """A checked image as it will be stored: ``data`` is the clean re-encoding, ``sha256`` the upload's hash."""

    data: bytes
    format: str
    extension: str
    width: int
    height: int
    sha256: str

    @property
    def content_type(self) -> str:
        return Image.MIME.get(self.format, "application/octet-stream")


def human_size(size: int) -> str:
    """Sizes as people read them: "1,000 bytes", "10.3 MB" (binary units, as the upload page's script)."""
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}"
    return f"{size:.1f} GB"


def upload_limits() -> dict[str, int]:
    config = settings.CLASSIFIER
    return {
        "max_bytes": config["MAX_UPLOAD_BYTES"],
        "max_pixels": config["MAX_IMAGE_PIXELS"],
        "max_files": config["MAX_FILES_PER_REQUEST"],
    }


def too_large(size: int) -> ImageRejected:
    limit = upload_limits()["max_bytes"]
    return ImageRejected(
        f"The file is {human_size(size)}; the limit is {human_size(limit)}.", status=413, code="file_too_large"
    )


def validate_image(data: bytes) -> ValidatedImage:
    """Return the checked image, or raise :class:`ImageRejected` saying why."""
    limits = upload_limits()
    if not data:
        raise ImageRejected("The file is empty.", code="empty_file")
    if len(data) > limits["max_bytes"]:
        raise too_large(len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))
            image_format, (width, height) = header.format, header.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(
            f"The image declares more pixels than the limit of {limits['max_pixels']:,}.",
            status=413,
            code="too_many_pixels",
        )
    except UnidentifiedImageError:
        raise ImageRejected("The file is not an image this service can read.", status=415, code="unsupported_type")
    except Exception:
        raise _corrupt()
    if image_format not in ALLOWED_FORMATS:
        raise ImageRejected(
            f"{image_format} images are not accepted; send JPEG, PNG, GIF, WebP, BMP or TIFF.",
            status=415,
            code="unsupported_type",
        )
    if width * height > limits["max_pixels"]:
        raise ImageRejected(
            f"The image is {width}×{height} = {width * height:,} pixels; "
            f"the limit is {limits['max_pixels']:,}.",
            status=413,
            code="too_many_pixels",
        )
    _refuse_implausible_size(data, image_format, width, height)
    try:
        with warnings.catch_warnings(), decoding(width * height):
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            (width, height), clean = sanitize.clean(data)  # upright: after EXIF rotation
    except Exception:
        raise _corrupt()
    return ValidatedImage(
        data=clean.data,
        format=clean.format,
        extension=clean.extension,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


class _PixelBudget:
    """Decodes running at once in this process hold at most ``MAX_IMAGE_PIXELS`` pixels together.

    Each request decodes on its own thread, so four 40-megapixel uploads would
    otherwise be four times the memory of one; they take turns instead, while
    small images (webcam frames) never wait for each other. An image alone is
    never refused a turn.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._in_use = 0

    @contextmanager
    def __call__(self, pixels: int):
        budget = upload_limits()["max_pixels"]
        with self._condition:
            self._condition.wait_for(lambda: self._in_use == 0 or self._in_use + pixels <= budget)
            self._in_use += pixels
        try:
            yield
        finally:
            with self._condition:
                self._in_use -= pixels
                self._condition.notify_all()


decoding = _PixelBudget()


def _refuse_implausible_size(data: bytes, image_format: str, width: int, height: int) -> None:
    """Refuse a file too small to hold the pixels its header claims: a truncated or forged image.

    Decoders fill what is missing with grey and only warn, so a 661-byte JPEG
    claiming 6000×6000 would otherwise be classified as a flat grey picture.
    The bounds are what the codecs can reach at best: a Huffman-coded JPEG
    spends at least one bit on every 8×8 block of its first scan (half that is
    allowed), and deflate never compresses better than 1032:1, so a PNG's
    compressed rows are at least 1/1032 of their raw size.
    """
    if image_format in sanitize.JPEG_FORMATS:
        needed = math.ceil(width / 8) * math.ceil(height / 8) / 16
    elif image_format == "PNG" and data[12:16] == b"IHDR":
        depth, colour_type = data[24], data[25]
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour_type, 1)
        needed = height * (1 + math.ceil(width * channels * depth / 8)) / 1032
    else:
        return
    if len(data) < needed:
        raise _corrupt()


def _corrupt() -> ImageRejected:
    return ImageRejected(
        "The image could not be decoded completely (truncated or corrupt file).", code="corrupt_image"
    )


