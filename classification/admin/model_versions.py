"""Model versions in the admin: their reports and metrics, and activating one."""

from __future__ import annotations

import mimetypes

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from classification.admin.changelists import BoundedFilters
from classification.models import ModelVersion
from classification.registry import versions
from ml.bundle import BundleError


@admin.register(ModelVersion)
class ModelVersionAdmin(BoundedFilters, admin.ModelAdmin):
    list_display = (
        "id", "name", "architecture", "input_size", "sample_accuracy", "test_accuracy", "test_ece", "is_active",
        "is_demo", "compiled", "load_error", "created_at",
    )
    list_filter = ("is_active", "is_demo", "architecture")
    actions = ["activate_version"]
    readonly_fields = (
        "artifact_sha256", "temperature", "created_at", "is_active", "compiled", "onnx_artifact", "onnx_sha256",
        "onnx_max_difference", "onnx_error", "compiled_at", "load_error", "load_failed_at", "load_failures",
        "reports", "metrics_table",
    )
    exclude = ("report_files", "metrics")

    @admin.display(description="compiled (ONNX)")
    def compiled(self, version: ModelVersion) -> str:
        """What serving processes load: the checked export, or why Keras serves it instead."""
        if version.compiled_at is None:
            return "not yet (queued for the registry task; Keras serves it meanwhile)"
        if version.onnx_error:
            return f"no: {version.onnx_error} (Keras serves it)"
        return f"yes, max difference from Keras {version.onnx_max_difference:.1e}"

    @admin.display(description="accuracy on samples")
    def sample_accuracy(self, version: ModelVersion):
        return version.sample_accuracy

    @admin.display(description="held-out test accuracy")
    def test_accuracy(self, version: ModelVersion):
        return version.metrics.get("test_accuracy")

    @admin.display(description="calibration error (test)")
    def test_ece(self, version: ModelVersion):
        return version.metrics.get("test_ece")

    @admin.display(description="metrics")
    def metrics_table(self, version: ModelVersion) -> str:
        rows = ((key, value) for key, value in sorted(version.metrics.items()) if not isinstance(value, (dict, list)))
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description="reports")
    def reports(self, version: ModelVersion) -> str:
        links = []
        for name in version.report_files:
            url = reverse("admin:classification_modelversion_report", args=[version.pk, name])
            if name.endswith(".png"):
                links.append(format_html('<figure><img src="{}" alt="{}" style="max-width:720px"><figcaption>{}</figcaption></figure>', url, name, name))
            else:
                links.append(format_html('<a href="{}">{}</a><br>', url, name))
        return format_html_join("", "{}", ((link,) for link in links)) or "—"

    @admin.action(
        description="Activate the selected version (workers switch before their next task)", permissions=["change"]
    )
    def activate_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = versions.activate(queryset.get())
        except BundleError as exc:
            self.message_user(request, f"Refused: {exc} The active model is unchanged.", messages.ERROR)
            return
        self.message_user(request, f"Active model: {version}.")

    def get_urls(self):
        return [
            path(
                "<int:pk>/reports/<str:name>",
                self.admin_site.admin_view(self.report_view),
                name="classification_modelversion_report",
            )
        ] + super().get_urls()

    def report_view(self, request, pk: int, name: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion, pk=pk)
        stored = version.report_files.get(name)
        if stored is None:
            raise Http404("No such report.")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileResponse(default_storage.open(stored, "rb"), content_type=content_type)
