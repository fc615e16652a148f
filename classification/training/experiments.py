"""Training runs side by side: the experiments page's reading of runs and the versions they made.

Each row is one finished run: its preset and the options it changed from the
defaults, its data, validation and test accuracy, per-class recall,
calibration error, duration, and the report images stored with its version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classification.models import TrainingRun
from ml.config import training_options

#: Columns the page sorts by, and how to read each from a row (None sorts last).
SORTS = {
    "run": lambda row: row.run.pk,
    "val_accuracy": lambda row: row.metrics.get("val_accuracy"),
    "test_accuracy": lambda row: row.metrics.get("test_accuracy"),
    "test_ece": lambda row: row.metrics.get("test_ece"),
    "duration": lambda row: row.seconds,
}
REPORT_IMAGES = ("training_curves.png", "test_confusion_normalised.png", "test_reliability.png")


@dataclass
class Experiment:
    run: TrainingRun
    metrics: dict[str, Any]
    changed: dict[str, Any]  # options that differ from the defaults, preset included
    seconds: float | None
    images: list[str] = field(default_factory=list)

    @property
    def version(self):
        return self.run.model_version


def experiments(sort: str = "test_accuracy", descending: bool = True) -> list[Experiment]:
    """Finished runs with a model version, sorted by ``sort`` (a key of :data:`SORTS`)."""
    defaults = {spec.name: spec.default for spec in training_options()}
    rows = []
    runs = TrainingRun.objects.filter(status=TrainingRun.Status.DONE, model_version__isnull=False)
    for run in runs.select_related("model_version"):
        version = run.model_version
        changed = {key: value for key, value in run.config.items() if key in defaults and value != defaults[key]
                   and key not in ("name", "description")}
        seconds = (run.finished_at - run.started_at).total_seconds() if run.started_at and run.finished_at else None
        images = [name for name in REPORT_IMAGES if name in version.report_files]
        rows.append(Experiment(run, version.metrics, changed, seconds, images))
    key = SORTS.get(sort, SORTS["test_accuracy"])
    present = [row for row in rows if key(row) is not None]
    absent = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=descending) + absent
