"""People confirming or correcting what the model said.

A review records the label, who gave it and when. Reviewed images become
training data (:func:`write_reviewed_dataset`) for the next model, and the
statistics compare each model version against them.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterable

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from classification.models import Classification, ModelVersion

LOW_CONFIDENCE = 0.6


class ReviewError(ValueError):
    pass


def known_labels() -> list[str]:
    """Every class any model version knows, in first-seen order."""
    labels: dict[str, None] = {}
    for names in ModelVersion.objects.order_by("created_at").values_list("class_names", flat=True):
        labels.update(dict.fromkeys(names))
    return list(labels)


def review(classification: Classification, *, label: str, user) -> Classification:
    """Record ``label`` as the true class of ``classification``, by ``user``."""
    label = (label or "").strip()
    allowed = known_labels()
    if label not in allowed:
        raise ReviewError(f"{label!r} is not a known class; choose one of {', '.join(allowed)}.")
    if classification.status != Classification.Status.DONE:
        raise ReviewError(f"#{classification.pk} is {classification.status}; only finished results can be reviewed.")
    classification.reviewed_label = label
    classification.reviewed_by = user
    classification.reviewed_at = timezone.now()
    classification.save(update_fields=["reviewed_label", "reviewed_by", "reviewed_at"])
    return classification


def review_many(classifications: Iterable[Classification], *, user, label: str | None = None) -> int:
    """Review several; ``label=None`` confirms each one's own prediction. Returns how many."""
    count = 0
    for classification in classifications:
        review(classification, label=label or classification.predicted_label, user=user)
        count += 1
    return count


def review_queue() -> QuerySet[Classification]:
    """Finished, unreviewed results, least confident first: where review helps most."""
    return (
        Classification.objects.filter(status=Classification.Status.DONE, reviewed_label="")
        .select_related("model_version")
        .order_by(F("confidence").asc(nulls_first=True), "created_at")
    )


def reviewed() -> QuerySet[Classification]:
    return Classification.objects.exclude(reviewed_label="").filter(status=Classification.Status.DONE)


def low_confidence() -> Q:
    return Q(confidence__lt=LOW_CONFIDENCE)


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


def _reviewed(queryset: QuerySet[Classification] | None):
    return (queryset if queryset is not None else reviewed()).iterator()


def write_reviewed_dataset(out: IO[bytes], queryset: QuerySet[Classification] | None = None) -> int:
    """Write reviewed images as a zip with one folder per class; return the image count.

    The layout is what ``python manage.py train --data`` reads.
    """
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for classification in _reviewed(queryset):
            archive.writestr(*dataset_entry(classification))
            count += 1
    return count


def export_reviewed(target: str, queryset: QuerySet[Classification] | None = None) -> int:
    """Write reviewed images as class folders into a local folder or an ``s3://bucket/prefix``."""
    from ml import s3sync

    if not s3sync.is_s3_uri(target):
        return write_dataset_folder(Path(target), _reviewed(queryset))
    with tempfile.TemporaryDirectory() as tmp:
        count = export_reviewed(tmp, queryset)
        client = s3sync.s3_client(endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name=settings.AWS_S3_REGION_NAME)
        s3sync.upload_folder(tmp, target if target.endswith("/") else target + "/", client=client)
    return count
