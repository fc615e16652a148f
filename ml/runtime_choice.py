"""Choosing the runtime that serves a model: the fastest one that agrees with Keras.

An exported graph is only trusted once it agrees with Keras: :func:`select_runtime`
exports (:mod:`ml.onnx_export`), compares both on the validation images (the
largest probability difference must stay below :data:`MATCH_TOLERANCE`), times
the runtimes that agree and keeps the fastest. Anything that goes wrong on the
way (no ``onnxruntime`` installed, a layer ``tf2onnx`` cannot convert, a
mismatch) is logged and the traced TensorFlow function serves instead, so a
model that loads in Keras is always served.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.errors import first_line
from ml.onnx_export import export_onnx
from ml.preprocessing import prepare_batch
from ml.runtimes import (
    ONNXRUNTIME, RUNTIME_CHOICES, TENSORFLOW, OnnxRuntime, Runtime, TensorFlowRuntime, as_probabilities,
)

logger = logging.getLogger(__name__)

#: Largest probability difference from Keras an exported graph may show on the validation images.
MATCH_TOLERANCE = 1e-4
# Timing rounds when choosing; the median of a few is stable enough to rank runtimes that
# differ by 2× or more, and keeps a worker's start short.
_TIMING_ROUNDS = 7


def validation_batch(input_size: int, preprocessing: str) -> np.ndarray:
    """Four generated images, prepared as uploads are: what a runtime must agree with Keras on.

    Noise, a gradient, stripes and a flat colour cover both busy and uniform
    inputs; they are generated (seeded), so a worker needs no files to check.
    """
    from PIL import Image

    side = input_size
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    gradient = np.stack([np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side)), np.full((side, side), 128.0)], -1)
    stripes = np.zeros((side, side, 3), dtype=np.float32)
    stripes[:, (np.arange(side) // max(1, side // 8)) % 2 == 0] = (250, 240, 20)
    pictures = [
        rng.integers(0, 256, (side, side, 3)),
        gradient,
        stripes,
        np.full((side, side, 3), (30, 90, 200)),
    ]
    images = [Image.fromarray(np.asarray(p, dtype=np.uint8)) for p in pictures]
    return prepare_batch(images, input_size, preprocessing)


@dataclass
class Candidate:
    """What was found out about one runtime while choosing."""

    name: str
    max_difference: float | None = None
    seconds_per_image: float | None = None
    error: str = ""

    @property
    def matches(self) -> bool:
        return not self.error and self.max_difference is not None and self.max_difference < MATCH_TOLERANCE


@dataclass
class Selection:
    """The runtime chosen, and why (logged by the worker, recorded in its status row)."""

    runtime: Runtime
    candidates: dict[str, Candidate] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.runtime.name

    def summary(self) -> str:
        parts = []
        for candidate in self.candidates.values():
            if candidate.error:
                parts.append(f"{candidate.name}: {candidate.error}")
                continue
            text = f"{candidate.name}: {candidate.seconds_per_image * 1000:.2f} ms/image" if candidate.seconds_per_image else candidate.name
            if candidate.name != TENSORFLOW and candidate.max_difference is not None:
                text += f", max difference from Keras {candidate.max_difference:.1e}"
            parts.append(text)
        return "; ".join(parts)


def select_runtime(
    model: Any,
    batch: np.ndarray,
    *,
    preference: str = "auto",
    export_dir: str | Path | None = None,
    model_path: str | Path | None = None,
    threads: int | None = None,
    reference: TensorFlowRuntime | None = None,
) -> Selection:
    """Choose the runtime to serve ``model`` with; see the module docstring for the rules.

    ``batch`` is a prepared validation batch (:func:`validation_batch`); the
    exported graph must match Keras on all of it and on its first image alone,
    since workers run both lone images and micro-batches.
    """
    if preference not in RUNTIME_CHOICES:
        raise ValueError(f"Unknown runtime {preference!r}; expected one of {', '.join(RUNTIME_CHOICES)}.")
    reference = reference or TensorFlowRuntime(model)
    candidates = {TENSORFLOW: Candidate(TENSORFLOW, max_difference=0.0)}
    runtimes: dict[str, Runtime] = {TENSORFLOW: reference}
    if preference != TENSORFLOW:
        onnx = Candidate(ONNXRUNTIME)
        candidates[ONNXRUNTIME] = onnx
        try:
            runtimes[ONNXRUNTIME] = OnnxRuntime(export_onnx(model, export_dir, model_path=model_path), threads=threads)
        except Exception as exc:  # tf2onnx and onnxruntime raise many types; each means "not this runtime"
            onnx.error = f"export failed: {first_line(exc)}"
            logger.warning("ONNX export failed (%s); serving with TensorFlow", first_line(exc), exc_info=logger.isEnabledFor(logging.DEBUG))
        else:
            onnx.max_difference = _max_difference(runtimes[ONNXRUNTIME], reference, batch)
            if not onnx.matches:
                onnx.error = f"differs from Keras by {onnx.max_difference:.1e} (limit {MATCH_TOLERANCE:.0e})"
                logger.warning("ONNX Runtime %s; serving with TensorFlow", onnx.error)

    faithful = [name for name, candidate in candidates.items() if candidate.matches and name in runtimes]
    if preference == "auto" and len(faithful) > 1:
        timings = _seconds_per_image({name: runtimes[name] for name in faithful}, batch[:1])
        for name, seconds in timings.items():
            candidates[name].seconds_per_image = seconds
        chosen = min(faithful, key=timings.__getitem__)
    else:
        chosen = preference if preference in faithful else TENSORFLOW
    return Selection(runtimes[chosen], candidates)


def export_difference(model: Any, onnx_path: str | Path, input_size: int, preprocessing: str,
                      threads: int | None = None) -> float:
    """How far an ONNX export is from Keras on the validation images (below :data:`MATCH_TOLERANCE` to be trusted)."""
    batch = validation_batch(input_size, preprocessing)
    return _max_difference(OnnxRuntime(onnx_path, threads=threads), TensorFlowRuntime(model), batch)


def _max_difference(runtime: Runtime, reference: Runtime, batch: np.ndarray) -> float:
    """The largest difference in served probabilities, on the batch and on its first image alone."""
    return max(
        float(np.max(np.abs(as_probabilities(runtime(part)) - as_probabilities(reference(part)))))
        for part in (batch, batch[:1])
    )


def _seconds_per_image(runtimes: dict[str, Runtime], batch: np.ndarray) -> dict[str, float]:
    """Median seconds per image of each runtime, timed in alternation.

    Alternating, so a burst of load from another process slows all of them
    alike instead of deciding the choice.
    """
    timings: dict[str, list[float]] = {name: [] for name in runtimes}
    for runtime in runtimes.values():
        runtime(batch)  # the first run allocates; it says nothing about the steady state
    for _ in range(_TIMING_ROUNDS):
        for name, runtime in runtimes.items():
            started = time.perf_counter()
            runtime(batch)
            timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) / len(batch) for name, values in timings.items()}
