"""Inference runtimes for a loaded Keras model, and choosing the one to serve with.

Keras runs a model the same way in training and serving, which is not the
fastest way to run it on a CPU: the same graph exported to ONNX and run by ONNX
Runtime is several times faster per image (README, Performance). An exported
graph is only trusted once it agrees with Keras, though: :func:`select_runtime`
exports, compares both on the validation images (the largest probability
difference must stay below :data:`MATCH_TOLERANCE`), times the runtimes that
agree and keeps the fastest. Anything that goes wrong on the way (no
``onnxruntime`` installed, a layer ``tf2onnx`` cannot convert, a mismatch) is
logged and the traced TensorFlow function serves instead, so a model that
loads in Keras is always served.

Like :mod:`ml.predictor`, nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ml.preprocessing import prepare_batch

logger = logging.getLogger(__name__)

TENSORFLOW = "tensorflow"
ONNXRUNTIME = "onnxruntime"
RUNTIMES = (TENSORFLOW, ONNXRUNTIME)
#: "auto" serves with the fastest runtime that matches Keras; a runtime's name asks for it alone.
RUNTIME_CHOICES = ("auto", *RUNTIMES)
#: Largest probability difference from Keras an exported graph may show on the validation images.
MATCH_TOLERANCE = 1e-4
# Timing rounds when choosing; the median of a few is stable enough to rank runtimes that
# differ by 2× or more, and keeps a worker's start short.
_TIMING_ROUNDS = 7

Runtime = Callable[[np.ndarray], np.ndarray]


class TensorFlowRuntime:
    """The Keras model's own forward pass, traced once: the reference every other runtime must match.

    The input signature leaves the batch dimension free, so micro-batches of any
    size reuse one trace instead of re-tracing (a second trace costs about a
    second on the first batch of a new size).
    """

    name = TENSORFLOW

    def __init__(self, model: Any):
        import tensorflow as tf

        shape = model.input_shape
        shape = shape[0] if isinstance(shape, list) else shape
        if all(shape[1:]):
            signature = [tf.TensorSpec((None, *shape[1:]), tf.float32)]
            self._infer = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
        else:
            self._infer = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._infer(batch))


class OnnxRuntime:
    """An exported ONNX graph run by ONNX Runtime on the CPU."""

    name = ONNXRUNTIME

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # its warnings about unused initialisers are noise here
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        # Idle pool threads would otherwise spin between images, taking the cores that the
        # web process, the database and the other workers on this machine need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def onnx_file_name() -> str:
    """The cached export's name: another exporter version may export differently, so it re-exports."""
    from importlib.metadata import version

    return f"model.keras{version('keras')}-tf2onnx{version('tf2onnx')}.onnx"


class ExportError(RuntimeError):
    """The ONNX export did not produce a file: a conversion error, too much memory, too long."""


def export_onnx(model: Any, directory: str | Path | None = None, *, model_path: str | Path | None = None) -> Path:
    """Export a Keras model to ONNX with Keras' own exporter (``tf2onnx`` underneath).

    The export runs in a child process (:func:`_export_in_child`): ``tf2onnx``
    can need many times the model's size in memory (VGG16's 120 M parameters
    took more than 20 GB here, MobileNetV2's 2.3 M 1.3 GB), and a worker
    killed for memory could not fall back to anything. The child is stopped past :func:`export_memory_limit` or
    :data:`EXPORT_TIMEOUT_S`, and what it allocated goes away with it.

    ``model_path`` is the model's file when there is one (a worker's cache);
    otherwise the model is saved to a temporary file first. With a
    ``directory`` an earlier export is reused and a new one is written under a
    temporary name first, so processes starting side by side never read half a
    file; without one the file goes to a temporary folder.
    """
    directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="onnx-export-"))
    target = directory / onnx_file_name()
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{target.name}.{os.getpid()}.part"
    try:
        with tempfile.TemporaryDirectory(prefix="onnx-export-") as scratch:
            if model_path is None:
                model_path = Path(scratch) / "model.keras"
                model.save(model_path)
            _export_in_child(Path(model_path), partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


#: Seconds an export may take; MobileNetV2 takes about 5 here, the TensorFlow import included.
EXPORT_TIMEOUT_S = 300


#: The most memory an export may take; MobileNetV2's peaks at 1.3 GiB. A model that needs more
#: is served by TensorFlow rather than squeeze the web process and the other workers.
EXPORT_MEMORY_CAP = 4 * 2**30


def export_memory_limit() -> int:
    """Bytes the export child may hold: :data:`EXPORT_MEMORY_CAP`, or half the memory available now if less."""
    try:
        with open("/proc/meminfo") as fh:
            available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return EXPORT_MEMORY_CAP
    return min(EXPORT_MEMORY_CAP, available // 2)


def _export_in_child(model_path: Path, output: Path) -> None:
    import subprocess
    import sys

    limit = export_memory_limit()
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": _package_root(os.environ.get("PYTHONPATH"))}
    child = subprocess.Popen(
        [sys.executable, "-m", "ml.runtimes", str(model_path), str(output)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    peak = 0
    while child.poll() is None:
        peak = max(peak, _resident_bytes(child.pid))
        if peak > limit or time.monotonic() > deadline:
            child.kill()
            child.wait()
            reason = f"it needed more than {limit / 2**30:.1f} GiB of memory" if peak > limit else f"it took more than {EXPORT_TIMEOUT_S} s"
            raise ExportError(f"export stopped: {reason}")
        time.sleep(0.1)
    errors = child.stderr.read().decode(errors="replace").strip().splitlines()
    if child.returncode != 0 or not output.is_file():
        raise ExportError(errors[-1] if errors else f"the export process exited with {child.returncode}")


def _package_root(existing: str | None) -> str:
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, (root, existing)))


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _export_main(model_path: str, output: str) -> None:
    """The export child: load, run once (Keras exports only a model that ran), export."""
    from ml.keras_io import load_model, quiet_tensorflow

    quiet_tensorflow()
    model = load_model(model_path)
    shape = model.input_shape[0] if isinstance(model.input_shape, list) else model.input_shape
    model(np.zeros((1, *(dim or 32 for dim in shape[1:])), dtype=np.float32), training=False)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # it logs every rewrite pass at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(output, format="onnx", verbose=False)


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
            if candidate.name != TENSORFLOW:
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
            onnx.error = f"export failed: {_first_line(exc)}"
            logger.warning("ONNX export failed (%s); serving with TensorFlow", _first_line(exc), exc_info=logger.isEnabledFor(logging.DEBUG))
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


def as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Normalise model outputs so every row sums to 1.

    Models whose last layer is already a softmax pass through unchanged (up to
    float rounding); imported models that end in logits get a softmax.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows_sum_to_one = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)
    if not rows_sum_to_one:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        outputs = np.exp(shifted)
    return outputs / outputs.sum(axis=1, keepdims=True)


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


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0][:300] if lines else "") or type(exc).__name__


if __name__ == "__main__":
    import sys

    _export_main(*sys.argv[1:3])
