"""Staff statistics: volume per label and day, review coverage, model accuracy.

Accuracy here is measured against what people reviewed, so it is the number
that matters in production, not the training report's. Charts are PNGs drawn
with matplotlib (Agg) and embedded in the page (:mod:`classification.admin.statistics`).
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from django.db.models import Case, Count, F, IntegerField, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from classification.models import Classification, ModelVersion
from classification.review import reviews
from ml.metrics import classification_metrics
from ml.reports import pyplot, save_confusion_matrix

DAYS = 30
#: Fewer reviews than this and an accuracy says little: the statistics page says so beside it.
MIN_REVIEWS = 30


def counts_per_label_per_day(days: int = DAYS) -> dict:
    since = timezone.now() - timedelta(days=days)
    rows = (
        Classification.objects.filter(status=Classification.Status.DONE, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "predicted_label")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    table: dict = defaultdict(dict)
    for row in rows:
        table[row["day"]][row["predicted_label"]] = row["n"]
    return dict(table)


def review_coverage() -> dict:
    done = Classification.objects.filter(status=Classification.Status.DONE)
    total, reviewed = done.count(), done.exclude(reviewed_label="").count()
    share = reviewed / total if total else 0.0
    return {"done": total, "reviewed": reviewed, "share": share, "percent": round(100 * share, 1)}


def accuracy_per_model_version() -> list[dict]:
    rows = (
        reviews.reviewed()
        .exclude(model_version=None)
        .values("model_version")
        .annotate(
            reviewed=Count("id"),
            correct=Sum(Case(When(predicted_label=F("reviewed_label"), then=1), default=0, output_field=IntegerField())),
        )
    )
    versions = ModelVersion.objects.in_bulk([row["model_version"] for row in rows])
    return [
        {
            "version": versions[row["model_version"]],
            "reviewed": row["reviewed"],
            "correct": row["correct"],
            "accuracy": row["correct"] / row["reviewed"],
        }
        for row in rows
    ]


def review_confusion() -> dict | None:
    """Predictions against reviews over every known class, or None before any review."""
    pairs = list(reviews.reviewed().values_list("reviewed_label", "predicted_label"))
    if not pairs:
        return None
    labels = reviews.known_labels()
    labels += sorted({label for pair in pairs for label in pair} - set(labels))
    index = {label: i for i, label in enumerate(labels)}
    return classification_metrics([index[t] for t, _ in pairs], [index[p] for _, p in pairs], labels)


def _png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def daily_chart(table: dict) -> str | None:
    if not table:
        return None
    plt = pyplot()
    days = sorted(table)
    labels = sorted({label for counts in table.values() for label in counts})
    figure, axis = plt.subplots(figsize=(9, 3.2))
    bottom = [0] * len(days)
    for label in labels:
        values = [table[day].get(label, 0) for day in days]
        axis.bar([str(day) for day in days], values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    axis.set_ylabel("classifications")
    axis.tick_params(axis="x", rotation=45, labelsize=8)
    axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return _png(buffer.getvalue())


def confusion_chart(confusion: dict | None) -> str | None:
    if confusion is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = save_confusion_matrix(
            confusion["confusion_matrix"], confusion["class_names"], Path(tmp) / "confusion.png",
            title="reviewed label (rows) against prediction (columns)",
        )
        return _png(path.read_bytes())
