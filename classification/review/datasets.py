"""Reviewed images as training data: class folders in a zip, a local folder or an S3 prefix.

The layout is what ``manage.py train --data`` reads: ``<label>/<id>.<ext>``.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from django.db.models import QuerySet

from classification.models import Classification
from classification.review.reviews import reviewed
from classifier_site.storage import s3_client
from ml import s3sync


def dataset_entry(classification: Classification) -> tuple[str, bytes]:
    """A reviewed image as a training-dataset file: (``<label>/<id>.<ext>``, its bytes)."""
    extension = PurePosixPath(classification.image.name).suffix or ".jpg"
    with classification.image.open("rb") as fh:
        return f"{classification.reviewed_label}/{classification.pk}{extension}", fh.read()


def write_dataset_folder(directory: Path, classifications) -> int:
    """Write reviewed images into ``directory`` as class folders; return the image count."""
    count = 0
    for classification in classifications:
        name, data = dataset_entry(classification)
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        count += 1
    return count


def write_reviewed_dataset(out: IO[bytes], queryset: QuerySet[Classification] | None = None) -> int:
    """Write reviewed images as a zip with one folder per class; return the image count.

    The layout is what ``python manage.py train --data`` reads.
    """
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for classification in reviewed(queryset).iterator():
            archive.writestr(*dataset_entry(classification))
            count += 1
    return count


def export_reviewed(target: str, queryset: QuerySet[Classification] | None = None) -> int:
    """Write reviewed images as class folders into a local folder or an ``s3://bucket/prefix``."""
    if not s3sync.is_s3_uri(target):
        return write_dataset_folder(Path(target), reviewed(queryset).iterator())
    with tempfile.TemporaryDirectory() as tmp:
        count = export_reviewed(tmp, queryset)
        s3sync.upload_folder(tmp, target if target.endswith("/") else target + "/", client=s3_client())
    return count
