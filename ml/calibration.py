"""Confidence that means what it says: temperature scaling and calibration error. NumPy only.

A network trained with cross-entropy is usually over-confident: among answers
given at 0.95, fewer than 95 % are right. Temperature scaling (Guo et al.,
2017) divides the logits by one number ``T`` fitted on the validation split to
minimise the negative log-likelihood. It never changes which class wins, only
how sure the model says it is. The bundle stores ``T`` and every runtime
applies it (:func:`ml.runtimes.as_probabilities`).

Expected calibration error (ECE) measures what is left: top-1 confidences are
put in equal-width bins, and the gap between each bin's mean confidence and
its accuracy is averaged, weighted by how many answers fall in the bin.
"""

from __future__ import annotations

import numpy as np

BINS = 15
#: Temperatures searched; outside this range a fit says more about the data than the model.
T_RANGE = (0.05, 20.0)
_EPSILON = 1e-12


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of probabilities rescaled as if their logits were divided by ``temperature``."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0 or not len(probabilities):
        return probabilities
    logits = np.log(np.clip(probabilities, _EPSILON, 1.0)) / temperature  # log p = logits + a constant per row
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    chosen = np.asarray(probabilities)[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(chosen, _EPSILON, 1.0))))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (golden-section on log T)."""
    if not len(labels):
        return 1.0
    low, high = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    ratio = (np.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(probabilities, float(np.exp(log_t))), labels)

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(60):  # the interval shrinks by 0.618 each step: far below 1e-6 in log T
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return round(float(np.exp((low + high) / 2)), 4)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin: its range, how many answers fall in it, their mean confidence and accuracy."""
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
    correct = probabilities.argmax(axis=1) == np.asarray(labels) if len(probabilities) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for index in range(bins):
        inside = (confidence > edges[index]) & (confidence <= edges[index + 1])
        if index == 0:
            inside |= confidence == 0.0
        count = int(inside.sum())
        rows.append({
            "low": round(float(edges[index]), 4), "high": round(float(edges[index + 1]), 4), "count": count,
            "confidence": round(float(confidence[inside].mean()), 4) if count else None,
            "accuracy": round(float(correct[inside].mean()), 4) if count else None,
        })
    return rows


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Mean |confidence − accuracy| over the bins, weighted by their share of the answers."""
    rows = reliability(probabilities, labels, bins)
    total = sum(row["count"] for row in rows)
    if not total:
        return 0.0
    gap = sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in rows if row["count"])
    return round(gap / total, 4)
