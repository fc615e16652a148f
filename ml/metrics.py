"""Metrics of a classifier's answers against the truth: NumPy only.

Kept apart from :mod:`ml.evaluate` (which loads models) so that the web
process can compute them for its statistics page without importing TensorFlow.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion_matrix[i][j]`` counts images of class i predicted as class j.
    A class never predicted has precision 0 (not NaN), so reports stay JSON.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions.")
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        true_positive = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
    present = [m for m in per_class.values() if m["support"]]
    return {
        "accuracy": round(float((y_true == y_pred).mean()), 4) if len(y_true) else 0.0,
        "count": int(len(y_true)),
        "per_class": per_class,
        "macro_f1": round(float(np.mean([m["f1"] for m in present])), 4) if present else 0.0,
        "confusion_matrix": confusion.tolist(),
        "class_names": list(class_names),
    }
