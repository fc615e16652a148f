"""Reading classification results: who sees what, history, search, status polling, waiting for a result.

Every page, file, status poll, API answer and socket reads through
:func:`visible_to`: a person sees their own classifications and nothing
else; everything only when asked for explicitly, with the view permission.
The other selectors narrow what it returns.
"""

from __future__ import annotations

import time
from datetime import datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from classification.models import Classification

MAX_STATUS_IDS = 100
VIEW_EVERYTHING = "classification.view_classification"


def visible_to(user=None, owner_key: str = "", *, everything: bool = False) -> QuerySet[Classification]:
    """What ``user`` (signed in), or the anonymous session holding ``owner_key``, may see.

    ``everything=True`` is the staff view of every row (the API's
    ``owner=all``): it needs the view permission, else ``PermissionDenied``.
    """
    rows = Classification.objects.select_related("model_version")
    signed_in = bool(user is not None and user.is_authenticated)
    if everything:
        if not (signed_in and user.has_perm(VIEW_EVERYTHING)):
            raise PermissionDenied("Seeing everyone's classifications needs the view permission on classifications.")
        return rows
    if signed_in:
        return rows.filter(submitted_by=user)
    if owner_key:
        return rows.filter(submitted_by__isnull=True, owner_key=owner_key)
    return rows.none()


def classifications_by_ids(visible: QuerySet[Classification], ids: list[UUID]) -> QuerySet[Classification]:
    return visible.filter(public_id__in=ids[:MAX_STATUS_IDS])


def classification_by_public_id(visible: QuerySet[Classification], public_id: UUID) -> Classification | None:
    return visible.filter(public_id=public_id).first()


def classification_history(
    visible: QuerySet[Classification], *, label: str = "", source: str = "", status: str = ""
) -> QuerySet[Classification]:
    queryset = visible
    if label:
        queryset = queryset.filter(predicted_label=label)
    if source:
        queryset = queryset.filter(source=source)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def known_labels(visible: QuerySet[Classification]) -> list[str]:
    return list(
        visible.exclude(predicted_label="")
        .order_by("predicted_label")
        .values_list("predicted_label", flat=True)
        .distinct()
    )


def classification_search(
    visible: QuerySet[Classification],
    *,
    label: str = "",
    source: str = "",
    status: str = "",
    name: str = "",
    reviewed: bool | None = None,
    reviewed_label: str = "",
    model_version: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    min_confidence: float | None = None,
    max_confidence: float | None = None,
) -> QuerySet[Classification]:
    """History filtered as the API allows: ``created_after`` inclusive, ``created_before`` exclusive."""
    queryset = classification_history(visible, label=label, source=source, status=status)
    if name:
        queryset = queryset.filter(original_name__icontains=name)
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


def neighbours(rows: QuerySet[Classification], current: Classification) -> tuple[Classification | None, Classification | None]:
    """The rows just newer and just older than ``current`` in ``rows`` (newest first, as History lists them)."""
    at, pk = current.created_at, current.pk
    newer = rows.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)).order_by("created_at", "pk").first()
    older = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)).order_by("-created_at", "-pk").first()
    return newer, older


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
