"""Every Pillow mode a user may upload becomes RGB, upright, the way training saw it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ml.preprocessing import open_image, prepare_batch


def _roundtrip(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_greyscale_l_becomes_grey_rgb():
    image = open_image(_roundtrip(Image.new("L", (4, 3), 77), "PNG"))
    assert image.mode == "RGB" and image.size == (4, 3)
    assert image.getpixel((0, 0)) == (77, 77, 77)


@pytest.mark.parametrize("mode, colour", [("LA", (10, 0)), ("RGBA", (10, 20, 30, 0))])
def test_transparent_pixels_become_white(mode, colour):
    image = Image.new(mode, (4, 4), colour)
    image.putpixel((0, 0), (200, 255) if mode == "LA" else (200, 100, 50, 255))
    rgb = open_image(_roundtrip(image, "PNG"))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((3, 3)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == ((200, 200, 200) if mode == "LA" else (200, 100, 50))


def test_palette_with_transparency_is_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    data = _roundtrip(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "P"
    rgb = open_image(data)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)  # the transparent index, not black
    assert rgb.getpixel((1, 1)) == (255, 0, 0)


def test_cmyk_jpeg_becomes_rgb():
    data = _roundtrip(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")
    red, green, blue = open_image(data).getpixel((4, 4))
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_greyscale_is_rescaled_not_clipped_to_white():
    ramp = np.linspace(0, 65535, 16, dtype=np.uint16).reshape(4, 4)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    rgb = np.asarray(open_image(_roundtrip(image, "PNG")))
    assert rgb.shape == (4, 4, 3)
    assert rgb.min() == 0 and rgb.max() == 255
    assert len(np.unique(rgb[..., 0])) > 8  # a ramp survives, not a white square


def test_exif_orientation_is_applied():
    # Stored landscape with a red left half; orientation 6 says "rotate 90° clockwise to view".
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    upright = open_image(buffer.getvalue())
    assert upright.size == (20, 40)
    top, bottom = upright.getpixel((10, 5)), upright.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the red half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_prepare_batch_scales_for_mobilenet():
    batch = prepare_batch([Image.new("RGB", (10, 10), (255, 0, 127))], 8, "mobilenet")
    assert batch.shape == (1, 8, 8, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, 0, 0], [1.0, -1.0, 127 / 127.5 - 1], atol=1e-6)
