"""What is stored and served of a photo: its pixels, upright, and none of its metadata.

The served bytes are read back (local storage and S3) and checked for EXIF
(GPS included), XMP, comments, PNG text chunks and ICC profiles; images
stored before are cleaned by ``strip_image_metadata``. Also: forged headers
that claim more pixels than their file holds are refused, and deep images
become 8-bit without a float64 copy, band by band, exactly.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageCms, PngImagePlugin

from classification.intake.submission import submit_image
from classification.intake.validation import ImageRejected, validate_image
from classification.models import Classification
from ml import preprocessing
from tests.conftest import stored_files
from tests.test_s3 import s3, s3_endpoint  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

GPS = {1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 30.0)}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="52,22.2N"/></x:xmpmeta>'


def _picture(size=(120, 80)) -> Image.Image:
    """Red on the left, blue on the right: a rotation shows."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def phone_jpeg() -> bytes:
    """A JPEG as a phone writes it: sideways with an orientation tag, GPS, maker, XMP, a comment, an ICC profile."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    exif[0x010F] = "SecretCam"
    exif[0x8825] = GPS
    buffer = io.BytesIO()
    _picture().save(buffer, format="JPEG", quality=92, exif=exif.tobytes(), comment=b"our flat, 3rd floor",
                    icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), xmp=XMP)
    return buffer.getvalue()


def tagged_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "52.37N 4.89E")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    exif = Image.Exif()
    exif[0x8825] = GPS
    buffer = io.BytesIO()
    _picture().convert("RGBA").save(buffer, format="PNG", pnginfo=info, exif=exif.tobytes(),
                                    icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    return buffer.getvalue()


def assert_no_metadata(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert not dict(image.getexif()), image.getexif()
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"} & set(image.info), image.info
    assert not getattr(image, "text", None)
    assert all(marker in ("APP0", "APP14") for marker, _ in getattr(image, "applist", []))
    for needle in (b"SecretCam", b"GPS", b"xmpmeta", b"3rd floor", b"52.37N", b"Exif"):
        assert needle not in data, needle
    return image


def _served(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("name, data", [("phone.jpg", phone_jpeg()), ("tagged.png", tagged_png())])
def test_served_original_and_thumbnail_carry_no_metadata_and_are_upright(client, classify_now, name, data):
    assert b"SecretCam" in data or b"52.37N" in data  # the file sent does carry it
    response = client.post(reverse("upload"), {"files": [SimpleUploadedFile(name, data)]}, HTTP_ACCEPT="application/json")
    item = response.json()["accepted"][0]

    original_bytes = _served(client.get(item["image_url"]))
    original = assert_no_metadata(original_bytes)
    # The worker makes the thumbnail; until then the thumbnail's address serves the image itself.
    assert _served(client.get(item["thumbnail_url"])) == original_bytes
    row = Classification.objects.get(public_id=item["id"])
    classify_now(row)
    thumbnail = assert_no_metadata(_served(client.get(item["thumbnail_url"])))

    rotated = name.endswith(".jpg")
    assert original.size == ((80, 120) if rotated else (120, 80))
    assert (item["width"], item["height"]) == original.size
    for image in (original, thumbnail):
        top_left = image.convert("RGB").getpixel((5, 5))
        assert top_left[0] > 200 and top_left[2] < 60  # red on the top (rotated) or left: the orientation was applied
    assert thumbnail.format == "JPEG" and max(thumbnail.size) <= 256 and thumbnail.size == original.size
    assert row.content_type == Image.MIME[original.format] and row.byte_size == len(original_bytes)


def test_the_worker_keeps_a_thumbnail_made_before_and_pages_survive_a_failed_one(classify_now, monkeypatch):
    from classification.serving import classify

    older = submit_image(data=phone_jpeg())  # as intake stored rows before the worker made thumbnails
    older.thumbnail.save("thumbnail.jpg", ContentFile(b"made at upload"), save=True)
    classify_now(older)
    older.refresh_from_db()
    assert older.status == "done" and older.thumbnail.open("rb").read() == b"made at upload"

    monkeypatch.setattr(classify, "thumbnail_jpeg", lambda image, side: (_ for _ in ()).throw(OSError("disk full")))
    failed = submit_image(data=phone_jpeg())
    classify_now(failed)
    failed.refresh_from_db()
    assert failed.status == "done" and not failed.thumbnail.name  # classified all the same; the image stands in


def _noise(size=(96, 64)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_upright_srgb_photos_keep_their_image_data_and_lose_only_the_metadata():
    """No encoding again where the pixels need no change: the stored file decodes to exactly the upload's pixels."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x8825] = GPS
    buffer = io.BytesIO()
    _noise().save(buffer, format="JPEG", quality=80, progressive=True, exif=exif.tobytes(), comment=b"our flat, 3rd floor",
                  icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), xmp=XMP)
    jpeg = buffer.getvalue() + b"trailer: SecretCam"  # data after the end of the image (phones append theirs) goes too
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "52.37N 4.89E")
    buffer = io.BytesIO()
    _noise().save(buffer, format="PNG", pnginfo=info, compress_level=1)  # not how the service would encode it
    png = buffer.getvalue()
    idat = png[png.index(b"IDAT") - 4:png.index(b"IEND") - 4]
    png = png[:-12] + _png_chunk(b"prVt", b"SecretCam GPS") + png[-12:]  # a private chunk, before IEND

    for data, image_data in ((jpeg, jpeg[jpeg.rindex(b"\xff\xda"):jpeg.rindex(b"\xff\xd9")]), (png, idat)):
        row = submit_image(data=data)
        stored = row.image.open("rb").read()
        assert_no_metadata(stored)
        assert b"SecretCam" not in stored
        assert image_data in stored  # the compressed pixels as sent: a lossy JPEG is not re-encoded (and worse)
        assert np.array_equal(np.asarray(preprocessing.open_image(stored)), np.asarray(preprocessing.open_image(data)))
        assert row.byte_size == len(stored) < len(data)


def _plain_png(rows: bytes, width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of these filtered rows (each a filter byte, then the pixels)."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def test_a_plain_png_is_checked_without_decoding_and_a_broken_one_still_refused(monkeypatch):
    from classification.intake import sanitize

    width, height = 40, 30
    rows = b"".join(b"\x00" + np.random.default_rng(y).integers(0, 256, 3 * width, dtype=np.uint8).tobytes()
                    for y in range(height))
    bad_filter = bytearray(rows)
    bad_filter[5 * (1 + 3 * width)] = 7  # row 5's filter type does not exist
    monkeypatch.setattr(sanitize, "open_image", lambda data: (_ for _ in ()).throw(AssertionError("decoded")))

    checked = validate_image(_plain_png(rows, width, height))  # its rows inflate to exactly the image: no decode

    assert (checked.width, checked.height, checked.format) == (40, 30, "PNG")
    monkeypatch.undo()
    with pytest.raises(ImageRejected) as refused:  # the check fails it over to the decoder, which refuses it
        validate_image(_plain_png(bytes(bad_filter), width, height))
    assert refused.value.code == "corrupt_image"


def test_an_orientation_given_only_in_xmp_is_still_applied():
    buffer = io.BytesIO()
    _picture().save(buffer, format="JPEG", xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
                                               b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
                                               b'</x:xmpmeta>')
    stored = assert_no_metadata(submit_image(data=buffer.getvalue()).image.open("rb").read())
    assert stored.size == (80, 120)


def test_images_served_from_s3_carry_no_metadata(client, s3, classify_now):  # noqa: F811
    response = client.post(reverse("upload"), {"files": [SimpleUploadedFile("phone.jpg", phone_jpeg())]},
                           HTTP_ACCEPT="application/json")
    item = response.json()["accepted"][0]
    classify_now(Classification.objects.get(public_id=item["id"]))
    for url in (item["image_url"], item["thumbnail_url"]):
        redirect = client.get(url)
        assert redirect.status_code == 302 and "X-Amz-Signature=" in redirect["Location"]
        assert_no_metadata(requests.get(redirect["Location"], timeout=10).content)


def test_deleting_from_s3_removes_the_objects(s3, classify_now, django_user_model):  # noqa: F811
    from tests.test_s3 import BUCKET, _keys

    owner = django_user_model.objects.create_user("owner")
    row = submit_image(data=phone_jpeg(), user=owner)
    [row] = classify_now(row)  # the worker stores the thumbnail beside the image
    assert row.thumbnail.name and {row.image.name, row.thumbnail.name} <= _keys(s3)
    client = Client()
    client.force_login(owner)

    assert client.post(reverse("classification-delete", args=[row.public_id])).status_code == 302

    assert not {row.image.name, row.thumbnail.name} & _keys(s3)
    assert not Classification.objects.exists()
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="images/").get("KeyCount", 0) == 0


def test_strip_image_metadata_cleans_images_stored_before(active_tiny_model, capsys):
    clean = submit_image(data=phone_jpeg())  # stored by today's intake: clean already
    old = submit_image(data=phone_jpeg())
    # As an older version stored it: the upload's own bytes, metadata and all.
    Classification.objects.filter(pk=old.pk).update(
        image=old.image.storage.save("images/old/phone.jpg", ContentFile(phone_jpeg())))
    old.refresh_from_db()
    old_files = {old.image.name, old.thumbnail.name}
    clean_bytes = clean.image.open("rb").read()

    call_command("strip_image_metadata", "--dry-run")
    assert "would clean 1" in capsys.readouterr().out
    assert old.image.name in stored_files()

    call_command("strip_image_metadata")
    assert "cleaned 1; 0 failed" in capsys.readouterr().out

    old.refresh_from_db()
    assert_no_metadata(old.image.open("rb").read())
    assert Image.open(old.image.open("rb")).size == (80, 120)  # upright
    assert not old_files & stored_files()  # the old original and thumbnail are gone
    assert clean.image.open("rb").read() == clean_bytes  # already clean: untouched
    call_command("strip_image_metadata")
    assert "cleaned 0" in capsys.readouterr().out


# --- forged sizes and deep images -------------------------------------------------------


def _jpeg_claiming(width: int, height: int, keep: int = 40) -> bytes:
    """A real JPEG whose frame header claims ``width``×``height``, its scan cut after ``keep`` bytes and ended."""
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.find(b"\xff\xc0")
    data[frame + 5:frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    scan = data.find(b"\xff\xda")
    return bytes(data[:scan + keep]) + b"\xff\xd9"


def test_a_header_claiming_more_pixels_than_the_file_holds_is_refused():
    forged = _jpeg_claiming(6000, 6000)
    assert len(forged) < 1000
    assert Image.open(io.BytesIO(forged)).size == (6000, 6000)  # Pillow would decode it as flat grey
    with pytest.raises(ImageRejected) as refused:
        validate_image(forged)
    assert (refused.value.code, refused.value.status) == ("corrupt_image", 400)


def test_plain_images_stay_well_within_the_bounds():
    """A flat colour compresses as well as a real file can; it must still pass."""
    for fmt, size in (("JPEG", (4000, 3000)), ("PNG", (3000, 2000))):
        buffer = io.BytesIO()
        Image.new("RGB", size, (90, 90, 90)).save(buffer, format=fmt, optimize=True)
        assert validate_image(buffer.getvalue()).width == size[0]


@pytest.mark.parametrize("mode, dtype, low, high", [
    ("I;16", np.uint16, 0, 65535), ("I", np.int32, -2**31, 2**31 - 1), ("F", np.float32, -1e6, 1e6),
])
def test_deep_images_become_8_bit_band_by_band_as_the_float64_formula_says(monkeypatch, mode, dtype, low, high):
    monkeypatch.setattr(preprocessing, "_BAND_PIXELS", 37 * 5)  # several bands, the last one partial
    rng = np.random.default_rng(0)
    values = rng.uniform(low, high, size=(23, 37)).astype(dtype)
    image = Image.fromarray(values)
    assert image.mode == mode

    grey = np.asarray(preprocessing.to_rgb(image))[..., 0]

    wide = values.astype(np.float64)
    expected = ((wide - wide.min()) * (255.0 / (wide.max() - wide.min()))).clip(0, 255)
    assert np.abs(grey.astype(int) - expected.astype(np.uint8).astype(int)).max() <= 1
    assert grey.min() == 0 and grey.max() == 255
