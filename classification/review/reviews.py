"""People confirming or correcting what the model said.

A review records the label, who gave it and when; every way of setting or
clearing one (the admin's editable column, its actions, its change form)
goes through here. Reviewed images become training data
(:mod:`classification.review.datasets`) for the next model, and the
statistics compare each model version against them.
"""

from __future__ import annotations

from typing import Iterable

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from classification.models import Classification, Event, ModelVersion



class ReviewError(ValueError):
    pass


def known_labels() -> list[str]:
    """Every class any model version knows, in first-seen order."""
    labels: dict[str, None] = {}
    for names in ModelVersion.objects.order_by("created_at").values_list("class_names", flat=True):
        labels.update(dict.fromkeys(names))
    return list(labels)


def review(classification: Classification, *, label: str, user, whole_event: bool = False) -> Classification:
    """Record ``label`` as the true class of ``classification``, by ``user``.

    With ``whole_event``, a frame that stands for its event in the review
    queue passes the label to every finished frame of that event.
    """
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
    if whole_event and classification.event_id:
        others = Classification.objects.filter(event_id=classification.event_id, status=Classification.Status.DONE)
        others.exclude(pk=classification.pk).update(
            reviewed_label=label, reviewed_by=user, reviewed_at=classification.reviewed_at
        )
    return classification


def review_many(
    classifications: Iterable[Classification], *, user, label: str | None = None, whole_event: bool = False
) -> int:
    """Review several; ``label=None`` confirms each one's own prediction. Returns how many."""
    count = 0
    for classification in classifications:
        review(classification, label=label or classification.predicted_label, user=user, whole_event=whole_event)
        count += 1
    return count


def review_event(event: Event, *, label: str, user) -> int:
    """Review every finished frame of ``event`` as ``label``; returns how many frames."""
    frames = event.frames.filter(status=Classification.Status.DONE)
    return review_many(frames, user=user, label=label)


def review_queue() -> QuerySet[Classification]:
    """Finished, unreviewed results: those their owner corrected first, then least confident first.

    Frames of cameras and webcams are not queued one by one: each event is,
    through its best frame (reviewing it reviews the whole event).
    """
    return (
        Classification.objects.filter(status=Classification.Status.DONE, reviewed_label="")
        .filter(Q(stream="") | Q(event__best_frame=F("pk")))
        .select_related("model_version")
        .order_by(F("suggested_at").desc(nulls_last=True), F("confidence").asc(nulls_first=True), "created_at")
    )


def clear_review(classification: Classification) -> Classification:
    """Mark ``classification`` as not reviewed again (a review given by mistake)."""
    classification.reviewed_label, classification.reviewed_by, classification.reviewed_at = "", None, None
    classification.save(update_fields=["reviewed_label", "reviewed_by", "reviewed_at"])
    return classification


def reviewed(queryset: QuerySet[Classification] | None = None) -> QuerySet[Classification]:
    """Finished results a person reviewed: all of them, or those of ``queryset``."""
    queryset = Classification.objects.all() if queryset is None else queryset
    return queryset.exclude(reviewed_label="").filter(status=Classification.Status.DONE)


def uncertain_below() -> float:
    """Calibrated confidence under which a result counts as uncertain (review queue, badges)."""
    return settings.CLASSIFIER["UNCERTAIN_BELOW"]


def low_confidence() -> Q:
    return Q(confidence__lt=uncertain_below())
