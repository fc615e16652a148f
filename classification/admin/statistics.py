"""The staff statistics page, in the admin's frame (its figures are :mod:`classification.review.statistics`)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from classification.review import statistics


def statistics_view(request):
    """Staff with the view permission on classifications: the admin site checks ``is_staff``, this the rest."""
    if not request.user.has_perm("classification.view_classification"):
        raise PermissionDenied
    daily = statistics.counts_per_label_per_day()
    confusion = statistics.review_confusion()
    context = {
        **admin.site.each_context(request),
        "title": "Classification statistics",
        "daily_chart": statistics.daily_chart(daily),
        "daily_total": sum(sum(counts.values()) for counts in daily.values()),
        "coverage": statistics.review_coverage(),
        "per_version": statistics.accuracy_per_model_version(),
        "confusion": confusion,
        "confusion_chart": statistics.confusion_chart(confusion),
        "days": statistics.DAYS,
        "min_reviews": statistics.MIN_REVIEWS,
    }
    return TemplateResponse(request, "admin/classification/statistics.html", context)
