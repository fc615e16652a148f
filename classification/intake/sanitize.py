"""What is stored of an image: upright sRGB pixels and nothing else.

Photos carry metadata their owners rarely mean to share: EXIF (camera,
time, the GPS position), XMP, comments, PNG text chunks, ICC profiles naming
the device. An image whose pixels need changing is stored re-encoded from its
decoded pixels, so none of it survives: the orientation tag is applied first (``open_image``), a
colour profile is converted to sRGB before it is dropped, and the encoder is
given no metadata. JPEGs stay JPEGs with their own quantization tables (about
the same size and quality); every other format is stored as a lossless PNG.
The model sees exactly these pixels: ``open_image`` of the stored file is the
stored image itself.

Most uploads need none of the decoding changes (already upright, no colour
profile other than sRGB, 8-bit RGB): their metadata lives in segments (JPEG)
or chunks (PNG) of its own, so those are cut out of the file and the image
data kept byte for byte (:func:`without_metadata`) instead of encoding the
pixels again, which cost the web process more than everything else of an
upload together (about 9 ms of 11 for a 224×224 PNG) and made a JPEG lose a
little each time. The file is still checked in full, which refuses a corrupt
one: decoded once, or for a plain PNG its compressed rows inflated and
counted (:func:`png_image_data_complete`, a quarter of a decode's cost); the
kept file decodes to exactly the same pixels. (The worker makes the
thumbnail, from the pixels it decodes for the model.)
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zlib
from dataclasses import dataclass

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


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    return ImageCms.getProfileDescription(profile).strip().lower().startswith("srgb")


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert RGB pixels from their embedded profile to sRGB, in place; a broken profile is ignored."""
    if not icc_profile:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if _is_srgb(source):
            return image
        ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB", inPlace=True)  # no second copy
        return image
    except (ImageCms.PyCMSError, OSError, ValueError):
        logger.info("Ignoring an unreadable colour profile")
        return image


def clean(data: bytes) -> tuple[tuple[int, int], CleanImage]:
    """Check that an image file decodes in full; store it upright, in sRGB, without metadata.

    A file whose pixels need no change keeps its image data as it is
    (:func:`without_metadata`); any other is decoded (its header read on its
    own first, so the decode owns its image and keeps no spare copy) and
    encoded again. A corrupt file raises. Returns the stored image's size
    (upright) and the file to store.
    """
    header = Image.open(io.BytesIO(data))
    kept = without_metadata(data, header)
    if kept is not None and kept.format == "PNG" and png_image_data_complete(kept.data):
        return header.size, kept  # no orientation, no profile: the header's size is the stored image's
    image = open_image(data)  # decoded in full: a corrupt file fails here
    if kept is not None:
        return image.size, kept
    jpeg_options = jpeg_encoding(header)
    image = to_srgb(image, header.info.get("icc_profile"))
    return image.size, clean_encode(image, header.format, jpeg_options)


def png_image_data_complete(data: bytes) -> bool:
    """Whether a non-interlaced 8-bit RGB PNG's image data inflates to exactly its rows, each with a valid filter.

    What decoding it would check (the compressed stream whole, its checksum,
    nothing missing or left over), at a fraction of the cost: no rows are
    unfiltered and no image is built. False also for an interlaced PNG: its
    passes are left to the decoder.
    """
    width, height = struct.unpack(">II", data[16:24])
    if data[28] != 0:
        return False
    stride = 1 + 3 * width
    idat, position = [], len(_PNG_SIGNATURE)
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            idat.append(data[position + 8:position + 8 + length])
        position += 12 + length
    inflater = zlib.decompressobj()
    try:
        rows = inflater.decompress(b"".join(idat), stride * height + 1)  # a byte more than it may hold
    except zlib.error:
        return False
    return (inflater.eof and not inflater.unconsumed_tail and len(rows) == stride * height
            and max(rows[::stride], default=0) <= 4)


def without_metadata(data: bytes, header: Image.Image) -> CleanImage | None:
    """The file with every metadata segment or chunk cut out and its image data as it was, or None.

    None when decoding changes the pixels (an orientation to apply, a colour
    profile other than sRGB, a mode other than 8-bit RGB, a multi-picture or
    animated file, another format) or the file's structure is not what it
    should be: :func:`clean` encodes those again.
    """
    try:
        if header.format == "JPEG" and header.mode == "RGB":
            return _jpeg_without_metadata(data, header)
        if header.format == "PNG" and header.mode == "RGB":
            return _png_without_metadata(data)
    except Exception:  # a malformed segment, chunk or EXIF block: the encoder's way is always safe
        logger.debug("Encoding an image again: its structure was not as expected", exc_info=True)
    return None


#: Orientations ``ImageOps.exif_transpose`` applies (1 is upright; other values are ignored by it).
_TRANSPOSING = range(2, 9)
#: A marker in a JPEG's entropy-coded data: 0xFF followed by neither a stuffed zero, a restart nor a fill byte.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


def _jpeg_without_metadata(data: bytes, header: Image.Image) -> CleanImage | None:
    if header.getexif().get(0x0112, 1) in _TRANSPOSING:  # EXIF or XMP orientation: the pixels turn
        return None
    icc_profile = header.info.get("icc_profile")
    if icc_profile and not _is_srgb(ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))):
        return None
    if data[:2] != b"\xff\xd8":
        return None
    kept, position, in_scan = [b"\xff\xd8"], 2, False
    while True:
        if in_scan:  # entropy-coded data up to the next marker, kept as it is
            match = _JPEG_MARKER.search(data, position)
            if match is None:
                return None  # no end of image: let the encoder make a whole file
            kept.append(data[position:match.start()])
            position = match.start()
        if data[position] != 0xFF:
            return None
        while data[position + 1] == 0xFF:  # fill bytes before a marker
            position += 1
        marker = data[position + 1]
        if marker == 0xD9:  # end of the (first) image: anything after it, a second picture included, goes
            kept.append(b"\xff\xd9")
            break
        if marker in _JPEG_STANDALONE:
            kept.append(data[position:position + 2])
            position += 2
            continue
        end = position + 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
        if end > len(data):
            return None
        segment = data[position:end]
        if not _is_jpeg_metadata(marker, segment[4:]):
            kept.append(segment)
        position, in_scan = end, marker == 0xDA or in_scan
    return CleanImage(b"".join(kept), "JPEG", "jpg")


def _is_jpeg_metadata(marker: int, payload: bytes) -> bool:
    """APP segments and comments, except JFIF's and Adobe's own (how to decode; JFIF thumbnails are not kept)."""
    if marker == 0xE0:
        return not payload.startswith(b"JFIF\x00")
    if marker == 0xEE:
        return not payload.startswith(b"Adobe")
    return 0xE1 <= marker <= 0xEF or marker == 0xFE


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The chunks a stored PNG keeps: its header, image data and end; an 8-bit RGB PNG needs no other to decode.
_PNG_KEPT = {b"IHDR", b"IDAT", b"IEND"}
#: Chunks that change what ``open_image`` makes of the pixels (orientation, colour profile, animation).
_PNG_TRANSFORMING = {b"eXIf", b"iCCP", b"acTL"}


def _png_without_metadata(data: bytes) -> CleanImage | None:
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or data[24] != 8 or data[25] != 2:
        return None  # not 8-bit RGB
    kept, position = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while True:
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            return None
        if kind in _PNG_TRANSFORMING:
            return None
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = data[position + 8:position + 8 + min(length, 80)].split(b"\x00", 1)[0].lower()
            if b"exif" in keyword or b"xmp" in keyword:  # Pillow finds an orientation in these too
                return None
        if kind in _PNG_KEPT:
            if zlib.crc32(data[position + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
                return None
            kept.append(data[position:end])
        elif kind != b"PLTE" and kind[0] & 0x20 == 0:  # an unknown critical chunk: not a PNG to vouch for
            return None
        position = end
        if kind == b"IEND":
            return CleanImage(b"".join(kept), "PNG", "png")


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
