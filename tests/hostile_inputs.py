"""A corpus of hostile or odd uploads, generated (nothing checked in).

Each case says what a correct service does with it: classify it (``accept``)
or refuse it with a 4xx and a message (``status``).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

LIMIT_BYTES = 300_000  # the tests run with this byte limit, so "too large" stays small


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    data: bytes
    content_type: str = "image/jpeg"
    status: int | None = None  # None: classified; else the 4xx it must get
    code: str = ""


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _photo(size=(64, 48), mode="RGB") -> Image.Image:
    return Image.linear_gradient("L").resize(size).convert(mode)


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims huge dimensions: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    return _save(_photo((80, 40)), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [_photo((40, 40)).convert("P"), Image.new("P", (40, 40), 3)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_with_transparency() -> bytes:
    image = _photo((40, 40)).convert("P")
    return _save(image, "PNG", transparency=0)


def _sixteen_bit() -> bytes:
    return _save(Image.linear_gradient("L").resize((50, 50)).convert("I;16"), "PNG")


def _noise(size: int) -> bytes:
    return _save(Image.effect_noise((size, size), 90).convert("RGB"), "PNG")


def cases() -> list[Case]:
    jpeg = _save(_photo(), "JPEG")
    png = _save(_photo(), "PNG")
    return [
        Case("zero bytes", "empty.jpg", b"", status=400, code="empty_file"),
        Case("plain text", "notes.jpg", b"hello, this is text\n" * 20, status=415, code="unsupported_type"),
        Case("html renamed", "page.jpg", b"<!doctype html><html><script>alert(1)</script></html>", status=415,
             code="unsupported_type"),
        Case("svg renamed", "vector.jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
             content_type="image/svg+xml", status=415, code="unsupported_type"),
        Case("pdf renamed", "doc.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", status=415,
             code="unsupported_type"),
        Case("truncated jpeg", "cut.jpg", _save(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")[:900],
             status=400, code="corrupt_image"),
        Case("truncated png", "cut.png", _noise(120)[:700], content_type="image/png", status=400, code="corrupt_image"),
        Case("decompression bomb", "bomb.png", _png_header_only(100_000, 100_000), content_type="image/png",
             status=413, code="too_many_pixels"),
        Case("1x1", "dot.png", _save(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), content_type="image/png"),
        Case("30000x10", "strip.png", _save(Image.new("RGB", (30000, 10), (200, 10, 10)), "PNG"),
             content_type="image/png"),
        Case("cmyk jpeg", "cmyk.jpg", _save(_photo(mode="CMYK"), "JPEG")),
        Case("16-bit png", "deep.png", _sixteen_bit(), content_type="image/png"),
        Case("palette with transparency", "palette.png", _palette_with_transparency(), content_type="image/png"),
        Case("la png", "la.png", _save(_photo(mode="LA"), "PNG"), content_type="image/png"),
        Case("grayscale jpeg", "grey.jpg", _save(_photo(mode="L"), "JPEG")),
        Case("exif rotated", "rotated.jpg", _exif_rotated()),
        Case("animated gif", "anim.gif", _animated_gif(), content_type="image/gif"),
        Case("webp", "photo.webp", _save(_photo(), "WEBP"), content_type="image/webp"),
        Case("bmp", "photo.bmp", _save(_photo(), "BMP"), content_type="image/bmp"),
        Case("tiff", "photo.tiff", _save(_photo(), "TIFF"), content_type="image/tiff"),
        Case("ico (unsupported format)", "icon.jpg", _save(_photo((32, 32)), "ICO"), status=415, code="unsupported_type"),
        Case("unknown format", "data.xyz", bytes(range(256)) * 8, content_type="application/octet-stream", status=415,
             code="unsupported_type"),
        Case("over the byte limit", "huge.png", _noise(400), content_type="image/png", status=413, code="file_too_large"),
        Case("polyglot png+html", "poly.png", png + b"<html><script>alert(1)</script></html>", content_type="image/png"),
        Case("polyglot jpeg+zip", "poly.jpg", jpeg + b"PK\x03\x04" + b"\x00" * 60),
        Case("wrong content type", "real.png", png, content_type="text/plain"),
        Case("path traversal name", "../../../etc/passwd.jpg", jpeg),
        Case("windows path name", "C:\\Users\\me\\photo.jpg", jpeg),
        Case("non-ascii name", "фото 📷 café.jpg", jpeg),
        Case("control characters in name", "bad\x00\r\nname.jpg", jpeg),
    ]
