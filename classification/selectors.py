"""Read-side queries, kept apart from the services that change data."""

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
