"""The experiments page: training runs side by side, sortable, and activating one from there.

Mounted through the training runs' admin (staff only); reading needs the view
permission on training runs, activating the change permission on model versions.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from classification.models import TrainingRun
from classification.registry import versions
from classification.training import experiments
from ml.bundle import BundleError


def experiments_view(request):
    if not request.user.has_perm("classification.view_trainingrun"):
        raise PermissionDenied
    sort = request.GET.get("sort", "test_accuracy")
    sort = sort if sort in experiments.SORTS else "test_accuracy"
    descending = request.GET.get("order", "desc") != "asc"
    rows = experiments.experiments(sort, descending)
    classes = sorted({name for row in rows for name in row.metrics.get("test_recall", {})})
    context = {
        **admin.site.each_context(request),
        "title": "Experiments",
        "rows": rows,
        "classes": classes,
        "sort": sort,
        "descending": descending,
        "sorts": list(experiments.SORTS),
        "can_activate": request.user.has_perm("classification.change_modelversion"),
    }
    return TemplateResponse(request, "admin/classification/experiments.html", context)


@require_POST
def activate_view(request, run_id: int):
    if not request.user.has_perm("classification.change_modelversion"):
        raise PermissionDenied
    run = get_object_or_404(TrainingRun, pk=run_id, model_version__isnull=False)
    try:
        version = versions.activate(run.model_version)
    except BundleError as exc:
        messages.error(request, f"Refused: {exc} The active model is unchanged.")
    else:
        messages.success(request, f"Active model: {version} (from training run #{run.pk}).")
    return HttpResponseRedirect(reverse("admin:classification_trainingrun_experiments"))
