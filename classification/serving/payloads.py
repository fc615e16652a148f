"""The one JSON shape of a classification, shared by pages, polling and pushes.

Its ``id`` and URLs carry the public id (a UUID): the sequential id never
leaves the house, so nobody can walk through other people's results.
"""

from django.conf import settings
from django.urls import reverse

from classification.models import Classification, default_display_name


def label_name(label: str, version=None) -> str:
    """The name people read for ``label``: the model version's display name, else the default."""
    if not label:
        return ""
    return version.display_name(label) if version is not None else default_display_name(label)


def is_uncertain(confidence: float | None) -> bool:
    """Below the review threshold (``CLASSIFIER_UNCERTAIN_BELOW``): pages mark it "uncertain"."""
    return confidence is not None and confidence < settings.CLASSIFIER["UNCERTAIN_BELOW"]


def classification_payload(classification: Classification) -> dict:
    version = classification.model_version
    return {
        "id": str(classification.public_id),
        "status": classification.status,
        "source": classification.source,
        "source_name": classification.get_source_display(),
        "stream": classification.stream or None,
        "original_name": classification.original_name,
        "predicted_label": classification.predicted_label or None,
        "label_name": label_name(classification.predicted_label, version) or None,
        "confidence": classification.confidence,
        "uncertain": is_uncertain(classification.confidence),
        "probabilities": classification.probabilities,
        "display_names": {label: label_name(label, version) for label in classification.probabilities},
        "error_message": classification.error_message or None,
        "model_version": {"id": version.pk, "name": version.name} if version else None,
        "width": classification.width,
        "height": classification.height,
        "created_at": classification.created_at.isoformat(),
        "finished_at": classification.finished_at.isoformat() if classification.finished_at else None,
        "detail_url": reverse("classification-detail", args=[classification.public_id]),
        "image_url": reverse("classification-image", args=[classification.public_id]),
        "thumbnail_url": reverse("classification-thumbnail", args=[classification.public_id]),
    }
