"""Changelists that answer any filter value a person or a script types, without a 500."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList

from classification.models import default_display_name


class BoundedChangeList(ChangeList):
    """A changelist that refuses absurd filter values (``created_at__year=99999999999``) like any bad filter.

    Django turns a ``ValueError`` in its date hierarchy into its "bad lookup"
    redirect (``?e=1``), but a year too large for a C integer raises
    ``OverflowError`` there, and a lookup in the query string
    (``created_at__year=0``) fails only when the query is compiled: both
    would be 500s.
    """

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        try:
            return super().get_results(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class BoundedFilters:
    """A ``ModelAdmin`` mixin: its changelist is a :class:`BoundedChangeList`."""

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList


class PredictedLabelFilter(admin.SimpleListFilter):
    """Predicted labels by their display names; rows without one (queued, failed) are not a blank choice."""

    title = "predicted label"
    parameter_name = "predicted_label"

    def lookups(self, request, model_admin):
        labels = (model_admin.get_queryset(request).exclude(predicted_label="").order_by("predicted_label")
                  .values_list("predicted_label", flat=True).distinct())
        return [(label, f"{default_display_name(label)} ({label})") for label in labels]

    def queryset(self, request, queryset):
        return queryset.filter(predicted_label=self.value()) if self.value() else queryset
