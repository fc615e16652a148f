"""Training runs in the admin: start one, follow its progress, compare it with the active model.

The form's fields are not written here: they are built from
:func:`ml.config.training_options`, the one declaration of what a training
run can be told, with its defaults, bounds and choices.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import path
from django.utils.html import format_html, format_html_join

from classification.admin.changelists import BoundedFilters
from classification.admin.experiments import activate_view, experiments_view
from classification.models import TrainingRun
from classification.training import runs
from ml.config import TrainingOption, training_options


def option_field(spec: TrainingOption) -> forms.Field:
    """The form field that offers one training option, with its bounds and choices.

    Every field may be left blank: blank takes the chosen preset's value, else
    the option's default (said in the field's help), as on the command line.
    """
    label = spec.title.capitalize()
    help_text = f"{spec.help}. Blank: the preset's value, else {spec.default!r}."
    common = {"label": label, "help_text": help_text, "required": False}
    if spec.type is bool:
        return forms.TypedChoiceField(choices=[("", "—"), ("true", "yes"), ("false", "no")],
                                      coerce=lambda value: value == "true", empty_value=None, **common)
    if spec.choices:
        return forms.ChoiceField(choices=[("", "—"), *((k, v) for k, v in spec.choices.items() if k)], **common)
    bounds = {"min_value": spec.minimum, "max_value": spec.maximum}
    if spec.type is int:
        return forms.IntegerField(**bounds, **common)
    if spec.type is float:
        return forms.FloatField(**bounds, **common)
    return forms.CharField(**common)


class TrainingRunFormBase(forms.ModelForm):
    """Start a training run: the data, and the options of ``ml.config.TrainConfig``."""

    OPTIONS: tuple[str, ...] = ()

    class Meta:
        model = TrainingRun
        fields = ("data",)
        help_texts = {
            "data": "A folder with one sub-folder per class, an s3://bucket/prefix, "
            "or “reviewed” for the reviewed images (compared with the active model on a held-out part)."
        }

    def settings(self) -> dict:
        """The options chosen; a blank one is left out, so it takes its default."""
        chosen = {name: self.cleaned_data.get(name) for name in self.OPTIONS}
        return {name: value for name, value in chosen.items() if value not in (None, "")}

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                runs.training_config(cleaned["data"], self.settings())
                runs.check_data_source(cleaned["data"])
            except runs.TrainingError as exc:
                raise forms.ValidationError(str(exc))
        return cleaned


#: Declared fields must exist when the class is made (the admin's form factory lists them).
TrainingRunForm = type(
    "TrainingRunForm",
    (TrainingRunFormBase,),
    {"OPTIONS": tuple(spec.name for spec in training_options()),
     **{spec.name: option_field(spec) for spec in training_options()}},
)


@admin.register(TrainingRun)
class TrainingRunAdmin(BoundedFilters, admin.ModelAdmin):
    list_display = ("id", "architecture", "data", "status", "progress", "failure", "eta", "model_version",
                    "created_at")
    list_filter = ("status",)
    actions = ("start_again",)
    readonly_fields = (
        "data", "config", "status", "claimed_by", "stage", "progress", "eta", "last_metrics", "model_version", "comparison_table",
        "error_message", "log_text", "created_by", "created_at", "started_at", "finished_at",
    )
    exclude = ("log", "epoch", "epochs", "eta_seconds", "comparison")

    @admin.action(description="Start again (interrupted or failed runs)")
    def start_again(self, request, queryset):
        """Queue chosen runs again from the start; runs still queued, running or done are left as they are."""
        restarted = [run.pk for run in queryset if runs.restart(run.pk)]
        skipped = queryset.exclude(pk__in=restarted).count()
        if restarted:
            self.message_user(request, f"Queued again: {', '.join(f'#{pk}' for pk in restarted)}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} run(s) left as they are: only interrupted or failed runs start again.",
                messages.WARNING,
            )

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

    def get_urls(self):
        return [
            path("experiments/", self.admin_site.admin_view(experiments_view),
                 name="classification_trainingrun_experiments"),
            path("<int:run_id>/activate/", self.admin_site.admin_view(activate_view),
                 name="classification_trainingrun_activate"),
        ] + super().get_urls()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TrainingRunForm
            kwargs["fields"] = ("data", *TrainingRunForm.OPTIONS)
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("data", *TrainingRunForm.OPTIONS)
        return super().get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data["data"]
        if data == runs.REVIEWED_DATA:
            run = runs.start_training_from_reviewed(settings=form.settings(), user=request.user)
        else:
            run = runs.start_training(data=data, settings=form.settings(), user=request.user)
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

    @admin.display(description="why it failed")
    def failure(self, run: TrainingRun) -> str:
        if run.status not in (TrainingRun.Status.FAILED, TrainingRun.Status.INTERRUPTED):
            return "—"
        message = (run.error_message or "no reason recorded").strip().splitlines()[-1]
        return message if len(message) <= 160 else message[:157] + "…"

    @admin.display(description="ETA")
    def eta(self, run: TrainingRun) -> str:
        if run.status != TrainingRun.Status.RUNNING or run.eta_seconds is None:
            return "—"
        return f"{run.eta_seconds:.0f} s"

    @admin.display(description="log")
    def log_text(self, run: TrainingRun) -> str:
        return format_html("<pre style='max-height:24em;overflow:auto'>{}</pre>", run.log or "—")
