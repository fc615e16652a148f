"""Events in the admin: what cameras and webcam sessions saw, reviewed a whole event at a time."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from classification.models import Event
from classification.review import reviews


def _frame_image(frame_id: int | None, size: int, *, link: bool = True) -> str:
    """A frame's thumbnail, linking to it (``link=False`` where the list already links the cell)."""
    if frame_id is None:
        return "—"
    if not link:
        return format_html('<img src="{}" alt="frame #{}" style="max-width:{}px;max-height:{}px;border-radius:4px">',
                           reverse("admin:classification_classification_thumbnail", args=[frame_id]),
                           frame_id, size, size)
    return format_html(
        '<a href="{}"><img src="{}" alt="frame #{}" style="max-width:{}px;max-height:{}px;border-radius:4px"></a>',
        reverse("admin:classification_classification_change", args=[frame_id]),
        reverse("admin:classification_classification_thumbnail", args=[frame_id]), frame_id, size, size,
    )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "best_frame_thumbnail", "label", "peak_confidence", "source", "camera", "started_at", "ended_at",
                    "frame_count", "stored_count")
    list_display_links = ("id", "best_frame_thumbnail")
    list_filter = ("label", "source", "camera")
    list_select_related = ("camera",)
    date_hierarchy = "started_at"
    readonly_fields = ("stream", "source", "camera", "owner", "label", "started_at", "ended_at", "frame_count",
                       "stored_count", "peak_confidence", "best_frame_image", "frames")
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False  # events are made from classified frames

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="best frame")
    def best_frame_image(self, event: Event) -> str:
        return _frame_image(event.best_frame_id, 96)

    @admin.display(description="best frame")
    def best_frame_thumbnail(self, event: Event) -> str:
        return _frame_image(event.best_frame_id, 96, link=False)

    @admin.display(description="stored frames")
    def frames(self, event: Event) -> str:
        return format_html_join(" ", "{}", ((_frame_image(pk, 64),) for pk in event.frames.values_list("pk", flat=True)[:200]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        for label in reviews.known_labels():
            name = f"review_as_{label}"
            actions[name] = (self._review_as(label), name, f"Review every frame of selected as “{label}”")
        actions["confirm_events"] = (self._review_as(None), "confirm_events", "Confirm the label of selected events")
        return actions

    @staticmethod
    def _review_as(label: str | None):
        def action(modeladmin, request, queryset):
            count = sum(reviews.review_event(event, label=label or event.label, user=request.user) for event in queryset)
            modeladmin.message_user(request, f"Reviewed {count} frame(s) of {queryset.count()} event(s).")

        return action
