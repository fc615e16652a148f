"""Cleaning images stored before intake stripped their metadata (run once after upgrading).

Each stored original that still carries metadata (EXIF with its GPS
position, XMP, comments, text chunks, an ICC profile, an orientation tag) is
replaced by the same re-encoding new uploads get (:func:`classification.intake.sanitize.clean`),
with a new thumbnail; the old files are deleted once the row points at the
new ones. Images that are already clean are left byte for byte as they are.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image

from classification.intake import sanitize
from classification.models import Classification
from ml.preprocessing import open_image, thumbnail_jpeg

logger = logging.getLogger(__name__)


@dataclass
class CleaningReport:
    checked: int = 0
    cleaned: int = 0
    failed: int = 0


def clean_stored_images(*, dry_run: bool = False) -> CleaningReport:
    report = CleaningReport()
    for classification in Classification.objects.exclude(image="").iterator(chunk_size=200):
        report.checked += 1
        try:
            if clean_stored_image(classification, dry_run=dry_run):
                report.cleaned += 1
        except Exception:
            logger.exception("Could not clean the stored image of classification %s", classification.pk)
            report.failed += 1
    return report


def clean_stored_image(classification: Classification, *, dry_run: bool = False) -> bool:
    """Re-encode one row's stored image when it carries metadata; True when it did (or would)."""
    with classification.image.open("rb") as fh:
        data = fh.read()
    if not sanitize.carries_metadata(Image.open(io.BytesIO(data))):
        return False
    if dry_run:
        return True
    size, clean = sanitize.clean(data)
    old_names = [field.name for field in (classification.image, classification.thumbnail) if field.name]
    classification.image.save(f"image.{clean.extension}", ContentFile(clean.data), save=False)
    classification.thumbnail.save("thumbnail.jpg", ContentFile(thumbnail_jpeg(open_image(clean.data), settings.CLASSIFIER["THUMBNAIL_SIZE"])), save=False)
    classification.content_type, classification.byte_size = clean.content_type, len(clean.data)
    classification.width, classification.height = size
    classification.save(update_fields=["image", "thumbnail", "content_type", "byte_size", "width", "height"])
    for name in old_names:
        try:
            classification.image.storage.delete(name)
        except Exception:  # the row is clean already; the old file is only left over
            logger.warning("Could not delete the old file %s", name, exc_info=True)
    return True
