"""Owners saying "this is wrong": a suggested label that waits for a reviewer.

A suggestion never changes the reviewed label, which trains the next model:
staff decide (the admin's review queue lists suggested results first, and an
action accepts them through :func:`classification.review.reviews.review`).
"""

from __future__ import annotations

from django.utils import timezone

from classification.models import Classification
from classification.review.reviews import ReviewError, known_labels


def suggest(classification: Classification, *, label: str, user=None) -> Classification:
    """Record that the owner (``user``, or an anonymous visitor: None) says ``label`` is right."""
    label = (label or "").strip()
    allowed = known_labels()
    if label not in allowed:
        raise ReviewError(f"{label!r} is not a known class; choose one of {', '.join(allowed)}.")
    if classification.status != Classification.Status.DONE:
        raise ReviewError("Only a finished result can be corrected.")
    classification.suggested_label = label
    classification.suggested_by = user if user is not None and user.is_authenticated else None
    classification.suggested_at = timezone.now()
    classification.save(update_fields=["suggested_label", "suggested_by", "suggested_at"])
    return classification


def with_suggestion(queryset):
    """Results whose owner suggested a label that nobody reviewed yet."""
    return queryset.exclude(suggested_label="").filter(reviewed_label="")
