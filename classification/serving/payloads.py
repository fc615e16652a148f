"""The one JSON shape of a classification, shared by pages, polling and pushes.

Its ``id`` and URLs carry the public id (a UUID): the sequential id never
leaves the house, so nobody can walk through other people's results.
"""

from django.urls import reverse

from classification.models import Classification


def classification_payload(classification: Classification) -> dict:
    version = classification.model_version
    return {
        "id": str(classification.public_id),
        "status": classification.status,
        "source": classification.source,
        "stream": classification.stream or None,
        "original_name": classification.original_name,
        "predicted_label": classification.predicted_label or None,
        "confidence": classification.confidence,
        "probabilities": classification.probabilities,
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
