"""Reading classification results: history, search, status polling, waiting for a result."""

from __future__ import annotations

import time
from datetime import datetime

from django.db.models import QuerySet

from classification.models import Classification

MAX_STATUS_IDS = 100


def classifications_by_ids(ids: list[int]) -> QuerySet[Classification]:
    return Classification.objects.filter(pk__in=ids[:MAX_STATUS_IDS]).select_related("model_version")


def classification_history(*, label: str = "", source: str = "", status: str = "") -> QuerySet[Classification]:
    queryset = Classification.objects.select_related("model_version")
    if label:
        queryset = queryset.filter(predicted_label=label)
    if source:
        queryset = queryset.filter(source=source)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def known_labels() -> list[str]:
    return list(
        Classification.objects.exclude(predicted_label="")
        .order_by("predicted_label")
        .values_list("predicted_label", flat=True)
        .distinct()
    )


def classification_search(
    *,
    label: str = "",
    source: str = "",
    status: str = "",
    reviewed: bool | None = None,
    reviewed_label: str = "",
    model_version: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    min_confidence: float | None = None,
    max_confidence: float | None = None,
) -> QuerySet[Classification]:
    """History filtered as the API allows: ``created_after`` inclusive, ``created_before`` exclusive."""
    queryset = classification_history(label=label, source=source, status=status)
    if reviewed is True:
        queryset = queryset.exclude(reviewed_label="")
    elif reviewed is False:
        queryset = queryset.filter(reviewed_label="")
    if reviewed_label:
        queryset = queryset.filter(reviewed_label=reviewed_label)
    if model_version is not None:
        queryset = queryset.filter(model_version_id=model_version)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    if min_confidence is not None:
        queryset = queryset.filter(confidence__gte=min_confidence)
    if max_confidence is not None:
        queryset = queryset.filter(confidence__lte=max_confidence)
    return queryset


def classification_by_id(pk: int) -> Classification | None:
    return Classification.objects.select_related("model_version").filter(pk=pk).first()


def wait_until_finished(ids: list[int], *, timeout: float, interval: float = 0.1) -> tuple[list[Classification], bool]:
    """Poll until every row is done or failed, or ``timeout`` seconds passed.

    Returns the rows in the order of ``ids`` and whether all of them finished.
    """
    deadline = time.monotonic() + max(timeout, 0)
    while True:
        by_id = {row.pk: row for row in Classification.objects.select_related("model_version").filter(pk__in=ids)}
        rows = [by_id[pk] for pk in ids if pk in by_id]
        finished = all(row.is_finished for row in rows)
        remaining = deadline - time.monotonic()
        if finished or remaining <= 0:
            return rows, finished
        time.sleep(min(interval, remaining))
