"""Model versions in the admin: their reports and metrics, and activating one."""

from __future__ import annotations

import mimetypes

from django import forms
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


# What a version is: fixed once it has been activated, since results were read with it.
FIXED_ONCE_ACTIVATED = ("name", "architecture", "class_names", "display_names", "input_size", "preprocessing", "artifact")


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = "__all__"

    def clean_display_names(self):
        """A name for known classes only, each a short non-empty text."""
        names = self.cleaned_data.get("display_names") or {}
        classes = self.cleaned_data.get("class_names") or getattr(self.instance, "class_names", None) or []
        if not isinstance(names, dict):
            raise forms.ValidationError('Give an object: {"class_name": "Display name", …}.')
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise forms.ValidationError(f"Not classes of this model: {', '.join(unknown)} (classes: {', '.join(classes)}).")
        if any(not isinstance(value, str) or not value.strip() or len(value) > 60 for value in names.values()):
            raise forms.ValidationError("Each display name is a text of 1 to 60 characters.")
        return {label: value.strip() for label, value in names.items()}


@admin.register(ModelVersion)
class ModelVersionAdmin(BoundedFilters, admin.ModelAdmin):
    form = ModelVersionForm
    list_display = (
        "id", "name", "architecture", "input_size", "sample_accuracy", "test_accuracy", "test_ece", "int8_decision",
        "is_active", "is_demo", "compiled", "load_error", "created_at",
    )
    list_filter = ("is_active", "is_demo", "architecture")
    actions = ["activate_version"]
    readonly_fields = (
        "artifact_sha256", "temperature", "created_at", "is_active", "activated_at", "compiled", "onnx_artifact",
        "onnx_sha256", "onnx_max_difference", "onnx_error", "compiled_at", "load_error", "load_failed_at",
        "load_failures", "int8", "int8_sha256", "reports", "metrics_table",
    )
    # The int8 decision is the registry task's to make (classification.registry.quantizing), shown as one line.
    exclude = ("report_files", "metrics", "int8_decision", "int8_reason", "int8_images", "int8_fp32_accuracy",
               "int8_accuracy", "int8_agreement", "int8_artifact")

    @admin.display(description="int8 runtime")
    def int8(self, version: ModelVersion) -> str:
        return version.int8_summary()

    def get_readonly_fields(self, request, obj=None):
        fixed = FIXED_ONCE_ACTIVATED if obj is not None and obj.is_fixed else ()
        return (*fixed, *self.readonly_fields)

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
