"""History: the filtered list, its live count and its exports (CSV, JSON), and the filters a result page keeps."""

from __future__ import annotations

import csv
import json
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from classification.events.selectors import HistoryEntries
from classification.models import Classification
from classification.results import selectors
from classification.serving.payloads import classification_payload, label_name
from classification.web import access

HISTORY_PAGE_SIZE = 24
EXPORT_FIELDS = ("id", "original_name", "source", "status", "predicted_label", "label_name", "confidence",
                 "uncertain", "created_at", "finished_at", "model_version", "reviewed_label")


class HistoryFilters(forms.Form):
    """History's filters. A value that is not valid is left out (and said so), never an error page.

    Confidences are percentages, as the pages show them; dates are the visitor's days, inclusive.
    """

    q = forms.CharField(required=False, max_length=200, label="File name")
    label = forms.CharField(required=False, max_length=100)
    source = forms.ChoiceField(required=False, choices=[("", "any"), *Classification.Source.choices])
    status = forms.ChoiceField(required=False, choices=[("", "any"), *Classification.Status.choices])
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    min_confidence = forms.IntegerField(required=False, min_value=0, max_value=100, label="Confidence from (%)")
    max_confidence = forms.IntegerField(required=False, min_value=0, max_value=100, label="to (%)")

    def values(self) -> dict:
        """What was asked and valid, as the page's query keeps it."""
        self.is_valid()
        return {key: self.cleaned_data.get(key) for key in self.fields if self.cleaned_data.get(key) not in (None, "")}

    def query(self) -> str:
        return urlencode({key: str(value) for key, value in self.values().items()})

    def search(self) -> dict:
        """The selectors' keyword arguments: days become moments in the site's time zone."""
        values = self.values()
        day = lambda d: timezone.make_aware(datetime.combine(d, time.min))  # noqa: E731
        percent = lambda key: values[key] / 100 if key in values else None  # noqa: E731
        return {
            "label": values.get("label", ""), "source": values.get("source", ""), "status": values.get("status", ""),
            "name": values.get("q", ""),
            "created_after": day(values["date_from"]) if "date_from" in values else None,
            "created_before": day(values["date_to"]) + timedelta(days=1) if "date_to" in values else None,
            "min_confidence": percent("min_confidence"), "max_confidence": percent("max_confidence"),
        }


def filtered(request: HttpRequest) -> tuple[HistoryFilters, QuerySet[Classification]]:
    """The classifications History's filters select (frames included), newest first: exports and previous/next."""
    form = HistoryFilters(request.GET)
    return form, selectors.classification_search(access.visible(request), **form.search())


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    access.owner(request, create=True)  # the page's live socket follows this session's results
    form = HistoryFilters(request.GET)
    visible = access.visible(request)
    # Uploads one by one; frames of cameras and webcams as their events (not a flood of frames).
    paginator = Paginator(HistoryEntries(visible, **form.search()), HISTORY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "form": form,
        "filters": form.values(),
        "query": form.query(),
        "labels": [(label, label_name(label)) for label in selectors.known_labels(visible)],
        "sources": Classification.Source.choices,
        "statuses": Classification.Status.choices,
        "anything": page.paginator.count or visible.exists(),
    }
    return render(request, "classification/history.html", context)


def _row(c: Classification) -> dict:
    payload = classification_payload(c)
    return {**{key: payload[key] for key in EXPORT_FIELDS if key in payload},
            "model_version": c.model_version.name if c.model_version else None,
            "reviewed_label": c.reviewed_label or None}


def _cell(value) -> str:
    """A spreadsheet must not run a file name as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _json_chunks(rows):
    yield '{"classifications": ['
    for index, row in enumerate(rows):
        yield ("," if index else "") + "\n" + json.dumps(_row(row))
    yield "\n]}\n"


class _Echo:
    def write(self, value):
        return value


@require_GET
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Every classification the filters select (frames one by one), as CSV or JSON, for download."""
    _, rows = filtered(request)
    rows = rows.order_by("-created_at", "-pk").iterator(chunk_size=500)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "json":  # streamed too: a long history is never held in memory at once
        response = StreamingHttpResponse(_json_chunks(rows), content_type="application/json")
    else:
        writer = csv.writer(_Echo())
        lines = (writer.writerow([_cell(row.get(key)) for key in EXPORT_FIELDS]) for row in map(_row, rows))
        response = StreamingHttpResponse(
            (line for chunk in ([writer.writerow(EXPORT_FIELDS)], lines) for line in chunk),
            content_type="text/csv; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="classifications-{stamp}.{fmt}"'
    return response
