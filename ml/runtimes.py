"""Inference runtimes for a loaded Keras model: prepared batch in, one score row per image out.

Keras runs a model the same way in training and serving, which is not the
fastest way to run it on a CPU: the same graph exported to ONNX (see
:mod:`ml.onnx_export`) and run by ONNX Runtime is several times faster per
image (README, Performance). Which one serves a model is
:mod:`ml.runtime_choice`'s decision. Like :mod:`ml.predictor`, nothing here
imports TensorFlow at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ml.calibration import apply_temperature

TENSORFLOW = "tensorflow"
ONNXRUNTIME = "onnxruntime"
#: The int8 graph of a version (:mod:`ml.quantization`), run by ONNX Runtime; served under "auto" once accepted.
ONNXRUNTIME_INT8 = "onnxruntime-int8"
RUNTIMES = (TENSORFLOW, ONNXRUNTIME)
#: "auto" serves with the fastest runtime that matches Keras; a runtime's name asks for it alone.
RUNTIME_CHOICES = ("auto", *RUNTIMES)

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

    def __init__(self, path: str | Path, threads: int | None = None, name: str = ONNXRUNTIME):
        import onnxruntime

        self.name = name

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

    @property
    def input_name(self) -> str:
        return self._input

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def as_probabilities(outputs: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Normalise model outputs so every row sums to 1, then apply the bundle's calibration temperature.

    Models whose last layer is already a softmax pass through unchanged (up to
    float rounding); imported models that end in logits get a softmax. Every
    runtime's outputs pass through here (:class:`ml.predictor.Predictor`), so
    a calibrated model is calibrated whichever runtime serves it.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows_sum_to_one = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)
    if not rows_sum_to_one:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        outputs = np.exp(shifted)
    return apply_temperature(outputs / outputs.sum(axis=1, keepdims=True), temperature)
