"""What is stored of an image: upright sRGB pixels and nothing else.

Photos carry metadata their owners rarely mean to share: EXIF (camera,
time, the GPS position), XMP, comments, PNG text chunks, ICC profiles naming
the device. Every image is stored re-encoded from its decoded pixels, so none
of it survives: the orientation tag is applied first (``open_image``), a
colour profile is converted to sRGB before it is dropped, and the encoder is
given no metadata. JPEGs stay JPEGs with their own quantization tables (about
the same size and quality); every other format is stored as a lossless PNG.
The model sees exactly these pixels: ``open_image`` of the stored file is the
stored image itself.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageCms, JpegImagePlugin

from ml.preprocessing import open_image

logger = logging.getLogger(__name__)

_SRGB = ImageCms.createProfile("sRGB")
JPEG_FORMATS = ("JPEG", "MPO")
#: ``Image.info`` keys that carry metadata about the photo, its place, its maker or its device.
METADATA_KEYS = {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc", "mp"}
#: JPEG application segments that hold only how to decode (JFIF, Adobe's colour transform).
HARMLESS_JPEG_SEGMENTS = {"APP0", "APP14"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    format: str  # "JPEG" or "PNG"
    extension: str

    @property
    def content_type(self) -> str:
        return Image.MIME[self.format]


def jpeg_encoding(source: Image.Image) -> dict:
    """The encoder options that keep a JPEG's own quality: its quantization tables and chroma subsampling.

    Read from the file as opened, before decoding; a source that is not a
    3-channel JPEG (greyscale, CMYK) is encoded at quality 95 instead.
    """
    if source.format in JPEG_FORMATS and source.mode == "RGB" and len(getattr(source, "quantization", {}) or {}) >= 2:
        return {"qtables": source.quantization, "subsampling": JpegImagePlugin.get_sampling(source)}
    return {"quality": 95}


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert RGB pixels from their embedded profile to sRGB, in place; a broken profile is ignored."""
    if not icc_profile:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if ImageCms.getProfileDescription(source).strip().lower().startswith("srgb"):
            return image
        ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB", inPlace=True)  # no second copy
        return image
    except (ImageCms.PyCMSError, OSError, ValueError):
        logger.info("Ignoring an unreadable colour profile")
        return image


def clean(data: bytes) -> tuple[Image.Image, CleanImage]:
    """Decode an image file upright and in sRGB; re-encode it without metadata.

    The header is read on its own first (format, quantization tables, colour
    profile: no pixels), so the decode owns its image and keeps no spare copy.
    Returns the decoded image too: the thumbnail is made from it, and its size
    is the stored image's.
    """
    header = Image.open(io.BytesIO(data))
    jpeg_options = jpeg_encoding(header)
    icc_profile = header.info.get("icc_profile")
    image = to_srgb(open_image(data), icc_profile)
    return image, clean_encode(image, header.format, jpeg_options)


def carries_metadata(image: Image.Image) -> bool:
    """Whether an opened image file holds any metadata :func:`clean` would drop (or an orientation to apply)."""
    if METADATA_KEYS & set(image.info):
        return True
    if image.format in JPEG_FORMATS:
        return any(marker not in HARMLESS_JPEG_SEGMENTS for marker, _ in getattr(image, "applist", []))
    if image.format == "PNG":
        image.load()  # text chunks after the pixels are read only now
        return bool(getattr(image, "text", None))
    return False


def clean_encode(image: Image.Image, source_format: str, jpeg_options: dict) -> CleanImage:
    """Encode upright RGB ``image`` with no metadata at all: JPEG for JPEG sources, else PNG."""
    image.info = {}  # encoders copy some of it (PNG: the ICC profile) unless it is gone
    buffer = io.BytesIO()
    if source_format in JPEG_FORMATS:
        image.save(buffer, format="JPEG", optimize=False, **jpeg_options)
        return CleanImage(buffer.getvalue(), "JPEG", "jpg")
    image.save(buffer, format="PNG", compress_level=6)
    return CleanImage(buffer.getvalue(), "PNG", "png")


def thumbnail_jpeg(image: Image.Image) -> bytes:
    """A small JPEG of ``image``, resized straight from it (no full-size copy), without metadata."""
    side = settings.CLASSIFIER["THUMBNAIL_SIZE"]
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    thumb = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) if size != image.size else image.copy()
    thumb.info = {}
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
