"""Training and evaluation reports written beside a model bundle.

Plots use Matplotlib's Agg backend: workers and CI have no display, and the
interactive backends would try to open one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def pyplot():
    """Matplotlib's pyplot on the Agg backend (no display), for every chart this project draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def save_training_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Accuracy and loss per epoch, training beside validation."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("accuracy", "loss")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                epochs = range(1, len(values) + 1)
                axis.plot(epochs, values, style, label=("validation " if prefix else "training ") + metric)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def save_confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, normalise: bool = False, title: str = ""
) -> Path:
    """A confusion matrix as a heat map; rows are true classes, columns predictions.

    Normalised by row, so each cell reads as "share of this class predicted as".
    """
    plt = pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalise else counts
    figure, axis = plt.subplots(figsize=(1.6 * len(class_names) + 2, 1.4 * len(class_names) + 1.5))
    image = axis.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalise else max(1, values.max()))
    figure.colorbar(image, ax=axis)
    ticks = range(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=30, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title or ("confusion matrix (share of row)" if normalise else "confusion matrix (counts)"))
    threshold = (1 if normalise else max(1, values.max())) / 2
    for i in ticks:
        for j in ticks:
            text = f"{values[i, j]:.2f}" if normalise else f"{int(values[i, j])}"
            axis.text(j, i, text, ha="center", va="center", color="white" if values[i, j] > threshold else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def save_reliability_diagram(calibration: Mapping[str, Any], path: str | Path, title: str = "") -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling, with each one's ECE.

    ``calibration`` has ``uncalibrated`` and ``calibrated`` entries, each with
    ``ece`` and ``bins`` from :func:`ml.calibration.reliability`. A calibrated
    model's bars follow the diagonal: answers given at 0.8 are right 80 % of the time.
    """
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.2, 4.6))
    axis.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    for name, colour in (("uncalibrated", "#c0392b"), ("calibrated", "#1f77b4")):
        entry = calibration.get(name)
        if not entry:
            continue
        bins = [b for b in entry["bins"] if b["count"]]
        axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color=colour,
                  label=f"{name} (ECE {entry['ece']:.3f})")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("confidence (top class)")
    axis.set_ylabel("accuracy")
    temperature = calibration.get("temperature")
    axis.set_title(f"reliability: {title}" + (f", T = {temperature}" if temperature else ""))
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def classification_report_text(metrics: Mapping[str, Any]) -> str:
    """A plain-text table of per-class precision, recall, F1 and support."""
    names = list(metrics["per_class"])
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':{width}}  precision  recall  f1-score  support"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:8.3f}  {m['support']:7d}")
    lines.append("")
    lines.append(f"{'accuracy':{width}}  {'':9}  {'':6}  {metrics['accuracy']:8.3f}  {metrics['count']:7d}")
    lines.append(f"{'macro f1':{width}}  {'':9}  {'':6}  {metrics['macro_f1']:8.3f}  {metrics['count']:7d}")
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted; order " + ", ".join(names) + ")")
    lines.extend("  " + " ".join(f"{v:5d}" for v in row) for row in metrics["confusion_matrix"])
    return "\n".join(lines) + "\n"


def write_evaluation_reports(
    directory: str | Path, metrics: Mapping[str, Any], prefix: str, mistakes: Sequence[Mapping] = ()
) -> list[Path]:
    """Confusion matrices (counts and normalised) plus JSON and text reports.

    ``metrics`` is what :func:`ml.evaluate.classification_metrics` returns;
    ``mistakes`` optionally lists the misclassified images.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    title = prefix.replace("_", " ")
    (directory / f"{prefix}_report.txt").write_text(classification_report_text(metrics))
    return [
        save_confusion_matrix(metrics["confusion_matrix"], metrics["class_names"], directory / f"{prefix}_confusion.png",
                              title=f"{title}: counts"),
        save_confusion_matrix(metrics["confusion_matrix"], metrics["class_names"],
                              directory / f"{prefix}_confusion_normalised.png", normalise=True,
                              title=f"{title}: share of true class"),
        write_json(directory / f"{prefix}_report.json", {**metrics, "mistakes": list(mistakes)}),
        directory / f"{prefix}_report.txt",
    ]


def write_training_reports(
    directory: str | Path,
    history: Mapping[str, Sequence[float]],
    config: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    wall_seconds: float,
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Curves, the full configuration, class counts per split, history and wall time."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "config": dict(config),
        "counts": {split: dict(c) for split, c in counts.items()},
        "wall_seconds": round(wall_seconds, 1),
        "history": {k: [round(float(v), 5) for v in values] for k, values in history.items()},
        **(extra or {}),
    }
    return [
        save_training_curves(history, directory / "training_curves.png"),
        write_json(directory / "training_report.json", summary),
    ]
