"""Reviewing classified images in the admin: the list, the review queue, bulk reviews, export.

Every review goes through :mod:`classification.review.reviews`, so the reviewer
and time are recorded whichever way a label is set: the editable column, the
bulk actions, or the change form. Each action declares the permission it
needs: reviewing changes labels that train the next model (change), exporting
only reads (view). Staff see every image here, through the admin's own image
URLs (view permission); the site's image URLs serve only their owner.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from classification.admin.changelists import BoundedFilters, PredictedLabelFilter
from classification.admin.statistics import statistics_view
from classification.serving.payloads import is_uncertain
from classification.models import Classification, ReviewQueueItem
from classification.review import datasets, reviews, suggestions
from classification.web.files import image_response, thumbnail_response


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return (("yes", "Reviewed"), ("no", "Not reviewed"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(reviewed_label="")
        if self.value() == "no":
            return queryset.filter(reviewed_label="")
        return queryset


class ConfidenceFilter(admin.SimpleListFilter):
    title = "confidence"
    parameter_name = "confidence"

    def lookups(self, request, model_admin):
        threshold = reviews.uncertain_below()
        return (("low", f"Uncertain (< {threshold:.0%})"), ("high", f"Confident (≥ {threshold:.0%})"))

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(reviews.low_confidence())
        if self.value() == "high":
            return queryset.filter(~reviews.low_confidence() & Q(confidence__isnull=False))
        return queryset


class SuggestionFilter(admin.SimpleListFilter):
    title = "owner's suggestion"
    parameter_name = "suggested"

    def lookups(self, request, model_admin):
        return (("yes", "Waiting for review"),)

    def queryset(self, request, queryset):
        return suggestions.with_suggestion(queryset) if self.value() == "yes" else queryset


class ReviewChangeListForm(forms.ModelForm):
    """The editable review column: a choice of known classes, blank for "not reviewed"."""

    reviewed_label = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "reviewed label"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewed_label"].choices = [("", "—")] + [(label, label) for label in reviews.known_labels()]


def _thumbnail(classification: Classification, size: int) -> str:
    return format_html(
        '<img src="{}" alt="{}" style="max-width:{}px;max-height:{}px;border-radius:4px">',
        reverse(
            "admin:classification_classification_thumbnail" if size <= 256 else "admin:classification_classification_image",
            args=[classification.pk],
        ),
        f"image #{classification.pk}",
        size,
        size,
    )


@admin.register(Classification)
class ClassificationAdmin(BoundedFilters, admin.ModelAdmin):
    list_display = (
        "id", "thumbnail_image", "predicted_label", "confidence_display", "reviewed_label", "suggested_label",
        "source", "model_version", "status", "created_at",
    )
    list_display_links = ("id", "thumbnail_image")
    list_editable = ("reviewed_label",)
    list_filter = (
        PredictedLabelFilter, "source", "status", "model_version", ReviewedFilter, ConfidenceFilter, SuggestionFilter,
    )
    list_select_related = ("model_version",)
    search_fields = ("original_name", "content_hash", "predicted_label", "reviewed_label")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["confirm_predictions", "accept_suggestions", "export_reviewed_dataset"]
    readonly_fields = (
        "large_image", "probabilities_table", "status", "predicted_label", "confidence", "model_version",
        "error_message", "source", "original_name", "content_type", "byte_size", "width", "height",
        "content_hash", "created_at", "started_at", "finished_at", "reviewed_by", "reviewed_at", "submitted_by",
        "suggested_label", "suggested_by", "suggested_at",
    )
    fieldsets = (
        (None, {"fields": ("large_image", "probabilities_table", "reviewed_label")}),
        ("Result", {"fields": ("status", "predicted_label", "confidence", "model_version", "error_message")}),
        ("Review", {"fields": ("reviewed_by", "reviewed_at", "suggested_label", "suggested_by", "suggested_at")}),
        ("Image", {"fields": ("source", "original_name", "content_type", "byte_size", "width", "height", "content_hash", "submitted_by")}),
        ("Times", {"fields": ("created_at", "started_at", "finished_at")}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # images come in through the upload form, the webcam and the API

    def get_changelist_form(self, request, **kwargs):
        kwargs["form"] = ReviewChangeListForm
        return super().get_changelist_form(request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ReviewChangeListForm
        return super().get_form(request, obj, change, **kwargs)

    whole_event = False  # the review queue shows an event by one frame: its review is the event's

    def save_model(self, request, obj, form, change):
        if "reviewed_label" in form.changed_data:
            label = form.cleaned_data["reviewed_label"]
            stored = Classification.objects.get(pk=obj.pk)
            if label:
                reviews.review(stored, label=label, user=request.user, whole_event=self.whole_event)
            else:
                reviews.clear_review(stored)
            return
        super().save_model(request, obj, form, change)

    @admin.display(description="image")
    def thumbnail_image(self, classification: Classification) -> str:
        return _thumbnail(classification, 96)

    @admin.display(description="image")
    def large_image(self, classification: Classification) -> str:
        return _thumbnail(classification, 640)

    @admin.display(description="confidence", ordering="confidence")
    def confidence_display(self, classification: Classification):
        if classification.confidence is None:
            return None
        # As the pages show it: a percentage, and "uncertain" in words below the review threshold.
        uncertain = " · uncertain" if is_uncertain(classification.confidence) else ""
        return f"{round(100 * classification.confidence)}%{uncertain}"

    @admin.display(description="every class probability")
    def probabilities_table(self, classification: Classification) -> str:
        rows = sorted(classification.probabilities.items(), key=lambda item: item[1], reverse=True)
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((label, f"{p:.4f}") for label, p in rows)),
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request):  # what @admin.action(permissions=["change"]) checks
            for label in reviews.known_labels():
                name = f"review_as_{label}"
                actions[name] = (self._review_as(label), name, f"Review selected as “{label}”")
        return actions

    @staticmethod
    def _review_as(label: str):
        def action(modeladmin, request, queryset):
            modeladmin._review(request, queryset, label)

        return action

    @admin.action(description="Confirm the predicted label of selected", permissions=["change"])
    def confirm_predictions(self, request, queryset):
        self._review(request, queryset, None)

    @admin.action(description="Accept the owner's suggested label of selected", permissions=["change"])
    def accept_suggestions(self, request, queryset):
        chosen = suggestions.with_suggestion(queryset).filter(status=Classification.Status.DONE)
        count = 0
        for classification in chosen:
            reviews.review(classification, label=classification.suggested_label, user=request.user)
            count += 1
        self.message_user(request, f"Reviewed {count} image(s) as their owners suggested.")

    def _review(self, request, queryset, label: str | None):
        if not self.has_change_permission(request):
            raise PermissionDenied  # a label that trains the next model: never on view permission alone
        finished = queryset.filter(status=Classification.Status.DONE)
        count = reviews.review_many(finished, user=request.user, label=label, whole_event=self.whole_event)
        skipped = queryset.count() - count
        self.message_user(request, f"Reviewed {count} image(s)." + (f" Skipped {skipped} unfinished." if skipped else ""))

    @admin.action(description="Export reviewed images of selected as a training zip", permissions=["view"])
    def export_reviewed_dataset(self, request, queryset):
        chosen = reviews.reviewed(queryset)
        if not chosen.exists():
            self.message_user(request, "None of the selected images is reviewed.", messages.WARNING)
            return None
        response = HttpResponse(content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="reviewed-dataset.zip"'
        datasets.write_reviewed_dataset(response, chosen)
        return response

    def get_urls(self):
        extra = [
            path(
                "statistics/",
                self.admin_site.admin_view(statistics_view),
                name="classification_statistics",
            ),
            path("<int:pk>/image", self.admin_site.admin_view(self.image_view), name="classification_classification_image"),
            path(
                "<int:pk>/thumbnail",
                self.admin_site.admin_view(self.thumbnail_view),
                name="classification_classification_thumbnail",
            ),
        ]
        return extra + super().get_urls()

    def _viewable(self, request, pk: int) -> Classification:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Classification, pk=pk)

    def image_view(self, request, pk: int):
        return image_response(self._viewable(request, pk))

    def thumbnail_view(self, request, pk: int):
        return thumbnail_response(self._viewable(request, pk))


@admin.register(ReviewQueueItem)
class ReviewQueueAdmin(ClassificationAdmin):
    """Unreviewed results, least confident first; an event of a camera or webcam as its best frame."""

    whole_event = True
    list_display = ClassificationAdmin.list_display + ("event_frames",)
    list_select_related = ("model_version", "event")
    list_filter = (PredictedLabelFilter, "source", "model_version", SuggestionFilter)
    date_hierarchy = None
    # Owners' suggestions first, then least confident first (the changelist re-orders, so say it here too).
    ordering = (F("suggested_at").desc(nulls_last=True), "confidence", "created_at")

    def get_queryset(self, request):
        return reviews.review_queue()

    @admin.display(description="event")
    def event_frames(self, classification: Classification) -> str:
        event = classification.event
        return f"{event.frame_count} frames, {event.started_at:%H:%M:%S}–{event.ended_at:%H:%M:%S}" if event else "—"

    def get_urls(self):
        return super(ClassificationAdmin, self).get_urls()
