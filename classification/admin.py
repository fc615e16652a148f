"""The admin: review classified images, correct labels, manage model versions.

Reviews always go through ``classification.reviews`` so the reviewer and time
are recorded whichever way a label is set: the editable column, the bulk
actions, or the change form.
"""

from __future__ import annotations

import mimetypes

from django import forms
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from classification import model_registry, reviews, statistics, training
from classification.models import Classification, ModelVersion, ReviewQueueItem, TrainingRun, WorkerProcess
from ml.bundle import BundleError


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "id", "name", "architecture", "input_size", "sample_accuracy", "test_accuracy", "is_active", "is_demo",
        "created_at",
    )
    list_filter = ("is_active", "is_demo", "architecture")
    actions = ["activate_version"]
    readonly_fields = ("artifact_sha256", "created_at", "is_active", "reports", "metrics_table")
    exclude = ("report_files", "metrics")

    @admin.display(description="accuracy on samples")
    def sample_accuracy(self, version: ModelVersion):
        return version.sample_accuracy

    @admin.display(description="held-out test accuracy")
    def test_accuracy(self, version: ModelVersion):
        return version.metrics.get("test_accuracy")

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

    @admin.action(description="Activate the selected version (workers switch before their next task)")
    def activate_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = model_registry.activate(queryset.get())
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
        version = get_object_or_404(ModelVersion, pk=pk)
        stored = version.report_files.get(name)
        if stored is None:
            raise Http404("No such report.")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileResponse(default_storage.open(stored, "rb"), content_type=content_type)


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
        return (("low", f"Low (< {reviews.LOW_CONFIDENCE:.0%})"), ("high", f"High (≥ {reviews.LOW_CONFIDENCE:.0%})"))

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(reviews.low_confidence())
        if self.value() == "high":
            return queryset.filter(~reviews.low_confidence() & Q(confidence__isnull=False))
        return queryset


class ReviewChangeListForm(forms.ModelForm):
    """The editable review column: a choice of known classes, blank for "not reviewed"."""

    reviewed_label = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewed_label"].choices = [("", "—")] + [(label, label) for label in reviews.known_labels()]


def _thumbnail(classification: Classification, size: int) -> str:
    return format_html(
        '<img src="{}" alt="" style="max-width:{}px;max-height:{}px;border-radius:4px">',
        reverse("classification-thumbnail" if size <= 256 else "classification-image", args=[classification.pk]),
        size,
        size,
    )


@admin.register(Classification)
class ClassificationAdmin(admin.ModelAdmin):
    list_display = (
        "id", "thumbnail_image", "predicted_label", "confidence_display", "reviewed_label", "source",
        "model_version", "status", "created_at",
    )
    list_display_links = ("id", "thumbnail_image")
    list_editable = ("reviewed_label",)
    list_filter = ("predicted_label", "source", "status", "model_version", ReviewedFilter, ConfidenceFilter)
    list_select_related = ("model_version",)
    search_fields = ("original_name", "content_hash", "predicted_label", "reviewed_label")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["confirm_predictions", "export_reviewed_dataset"]
    readonly_fields = (
        "large_image", "probabilities_table", "status", "predicted_label", "confidence", "model_version",
        "error_message", "source", "original_name", "content_type", "byte_size", "width", "height",
        "content_hash", "created_at", "started_at", "finished_at", "reviewed_by", "reviewed_at", "submitted_by",
    )
    fieldsets = (
        (None, {"fields": ("large_image", "probabilities_table", "reviewed_label")}),
        ("Result", {"fields": ("status", "predicted_label", "confidence", "model_version", "error_message")}),
        ("Review", {"fields": ("reviewed_by", "reviewed_at")}),
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

    def save_model(self, request, obj, form, change):
        if "reviewed_label" in form.changed_data:
            label = form.cleaned_data["reviewed_label"]
            if label:
                reviews.review(Classification.objects.get(pk=obj.pk), label=label, user=request.user)
            else:
                Classification.objects.filter(pk=obj.pk).update(reviewed_label="", reviewed_by=None, reviewed_at=None)
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
        return None if classification.confidence is None else round(classification.confidence, 3)

    @admin.display(description="every class probability")
    def probabilities_table(self, classification: Classification) -> str:
        rows = sorted(classification.probabilities.items(), key=lambda item: item[1], reverse=True)
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((label, f"{p:.4f}") for label, p in rows)),
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        for label in reviews.known_labels():
            name = f"review_as_{label}"
            actions[name] = (self._review_as(label), name, f"Review selected as “{label}”")
        return actions

    @staticmethod
    def _review_as(label: str):
        def action(modeladmin, request, queryset):
            modeladmin._review(request, queryset, label)

        return action

    @admin.action(description="Confirm the predicted label of selected")
    def confirm_predictions(self, request, queryset):
        self._review(request, queryset, None)

    def _review(self, request, queryset, label: str | None):
        finished = queryset.filter(status=Classification.Status.DONE)
        count = reviews.review_many(finished, user=request.user, label=label)
        skipped = queryset.count() - count
        self.message_user(request, f"Reviewed {count} image(s)." + (f" Skipped {skipped} unfinished." if skipped else ""))

    @admin.action(description="Export reviewed images of selected as a training zip")
    def export_reviewed_dataset(self, request, queryset):
        chosen = queryset.exclude(reviewed_label="").filter(status=Classification.Status.DONE)
        if not chosen.exists():
            self.message_user(request, "None of the selected images is reviewed.", messages.WARNING)
            return None
        response = HttpResponse(content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="reviewed-dataset.zip"'
        reviews.write_reviewed_dataset(response, chosen)
        return response

    def get_urls(self):
        extra = [
            path(
                "statistics/",
                self.admin_site.admin_view(statistics.statistics_view),
                name="classification_statistics",
            )
        ]
        return extra + super().get_urls()


@admin.register(ReviewQueueItem)
class ReviewQueueAdmin(ClassificationAdmin):
    """Unreviewed results, least confident first."""

    list_filter = ("predicted_label", "source", "model_version")
    date_hierarchy = None
    ordering = ("confidence", "created_at")  # the changelist re-orders, so say it here too

    def get_queryset(self, request):
        return reviews.review_queue()

    def get_urls(self):
        return super(ClassificationAdmin, self).get_urls()


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = (
        "hostname", "pid", "model_version", "runtime", "load_count", "load_seconds", "warmup_seconds", "last_seen"
    )
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False


class TrainingRunForm(forms.ModelForm):
    """Start a training run: the data folder and the settings of ``ml.train``."""

    arch = forms.ChoiceField(choices=[("mobilenet_v2", "MobileNetV2 (light)"), ("basic_cnn", "Basic CNN"), ("vgg16", "VGG16")])
    weights = forms.CharField(initial="imagenet", help_text="imagenet, none, or a path to backbone weights on the worker")
    fine_tune = forms.IntegerField(initial=0, min_value=-1, help_text="top backbone layers to train (-1: all)")
    epochs = forms.IntegerField(initial=20, min_value=1, max_value=1000)
    batch_size = forms.IntegerField(initial=32, min_value=1, max_value=1024)
    learning_rate = forms.FloatField(initial=1e-3, min_value=1e-7, max_value=1.0)
    img_size = forms.IntegerField(required=False, min_value=16, max_value=1024, help_text="blank: the preset's size")
    seed = forms.IntegerField(initial=0)
    val_split = forms.FloatField(initial=0.15, min_value=0.01, max_value=0.5)
    test_split = forms.FloatField(initial=0.15, min_value=0.01, max_value=0.5)
    class_balance = forms.ChoiceField(
        choices=[("none", "none"), ("weights", "class weights"), ("sources", "class and source-folder weights")]
    )

    SETTINGS = (
        "arch", "weights", "fine_tune", "epochs", "batch_size", "learning_rate", "img_size", "seed", "val_split",
        "test_split", "class_balance",
    )

    class Meta:
        model = TrainingRun
        fields = ("data",)
        help_texts = {
            "data": "A folder with one sub-folder per class, an s3://bucket/prefix, "
            "or “reviewed” for the reviewed images (compared with the active model on a held-out part)."
        }

    def settings(self) -> dict:
        chosen = {name: self.cleaned_data[name] for name in self.SETTINGS}
        if chosen["img_size"] is None:
            del chosen["img_size"]
        return chosen

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                training.training_config(cleaned["data"], self.settings())
                if cleaned["data"] == training.REVIEWED_DATA:
                    training.check_reviewed_data()
            except training.TrainingError as exc:
                raise forms.ValidationError(str(exc))
        return cleaned


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "architecture", "data", "status", "progress", "eta", "model_version", "created_at")
    list_filter = ("status",)
    readonly_fields = (
        "data", "config", "status", "stage", "progress", "eta", "last_metrics", "model_version", "comparison_table",
        "error_message", "log_text", "created_by", "created_at", "started_at", "finished_at",
    )
    exclude = ("log", "epoch", "epochs", "eta_seconds", "comparison")

    @admin.display(description="new model against the active one on held-out reviewed images")
    def comparison_table(self, run: TrainingRun) -> str:
        if not run.comparison:
            return "—"
        rows = [("new model", run.comparison["new"])]
        if "active" in run.comparison:
            rows.append((f"active: {run.comparison['active']['name']}", run.comparison["active"]))
        return format_html(
            "<table><tr><th></th><th>accuracy</th><th>macro F1</th><th>images</th></tr>{}</table>",
            format_html_join(
                "", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((name, m["accuracy"], m["macro_f1"], m["count"]) for name, m in rows),
            ),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TrainingRunForm
            kwargs["fields"] = ("data", *TrainingRunForm.SETTINGS)
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("data", *TrainingRunForm.SETTINGS)
        return super().get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data["data"]
        if data == training.REVIEWED_DATA:
            run = training.start_training_from_reviewed(settings=form.settings(), user=request.user)
        else:
            run = training.start_training(data=data, settings=form.settings(), user=request.user)
        obj.pk = run.pk

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="architecture")
    def architecture(self, run: TrainingRun):
        return run.config.get("arch", "")

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        if run.epochs:
            return f"epoch {run.epoch}/{run.epochs} ({run.stage})"
        return run.stage or run.get_status_display()

    @admin.display(description="ETA")
    def eta(self, run: TrainingRun) -> str:
        if run.status != TrainingRun.Status.RUNNING or run.eta_seconds is None:
            return "—"
        return f"{run.eta_seconds:.0f} s"

    @admin.display(description="log")
    def log_text(self, run: TrainingRun) -> str:
        return format_html("<pre style='max-height:24em;overflow:auto'>{}</pre>", run.log or "—")
