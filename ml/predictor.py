"""Serving a model bundle: load once, then classify batches of images.

A :class:`Predictor` is built once per worker process and kept for its life;
building one is the expensive part (importing TensorFlow, reading the model,
tracing the graph), classifying is cheap. :meth:`Predictor.warm_up` runs one
inference right after loading so the first real image is not the slow one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ml.bundle import MODEL_FILENAME, BundleError, BundleMetadata, read_metadata
from ml.keras_io import load_model, output_count_of, quiet_tensorflow
from ml.preprocessing import ImageSource, prepare_batch


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]


def limit_tensorflow_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools; call before TensorFlow runs anything.

    With N worker processes on C cores, each process gets C // N threads so the
    processes do not fight over cores.
    """
    quiet_tensorflow()
    import tensorflow as tf

    threads = max(1, int(threads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow refuses once its runtime started; the earlier cap stays in force.
        pass


def threads_per_process(processes: int, cores: int | None = None) -> int:
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, processes))


class Predictor:
    """A loaded model with the metadata that says how to feed it."""

    def __init__(self, model: Any, metadata: BundleMetadata, load_seconds: float = 0.0):
        outputs = output_count_of(model)
        if outputs != len(metadata.class_names):
            raise BundleError(
                f"The model has {outputs} outputs but the metadata names "
                f"{len(metadata.class_names)} classes ({', '.join(metadata.class_names)})."
            )
        self.model = model
        self.metadata = metadata
        self.load_seconds = load_seconds
        self._infer = self._compile(model)

    @classmethod
    def from_files(cls, model_path: str | Path, metadata: BundleMetadata) -> "Predictor":
        started = time.perf_counter()
        model = load_model(model_path)
        return cls(model, metadata, load_seconds=time.perf_counter() - started)

    @classmethod
    def from_bundle(cls, directory: str | Path) -> "Predictor":
        directory = Path(directory)
        return cls.from_files(directory / MODEL_FILENAME, read_metadata(directory))

    @staticmethod
    def _compile(model: Any):
        """A traced inference function: ``model.predict`` re-plans every call."""
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def infer(batch):
            return model(batch, training=False)

        return infer

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.class_names)

    def predict_array(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for an already prepared batch, shape (N, classes)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        probabilities = np.asarray(self._infer(batch), dtype=np.float64)
        return _as_probabilities(probabilities)

    def predict(self, images: Sequence[ImageSource]) -> list[Prediction]:
        """Classify images given as bytes, paths or PIL images, in order."""
        batch = prepare_batch(images, self.metadata.input_size, self.metadata.preprocessing)
        return [self._to_prediction(row) for row in self.predict_array(batch)]

    def warm_up(self) -> float:
        """Run one inference on a blank image; return the seconds it took."""
        size = self.metadata.input_size
        started = time.perf_counter()
        self.predict_array(np.zeros((1, size, size, 3), dtype=np.float32))
        return time.perf_counter() - started

    def _to_prediction(self, row: np.ndarray) -> Prediction:
        best = int(np.argmax(row))
        return Prediction(
            label=self.class_names[best],
            confidence=float(row[best]),
            probabilities={name: float(p) for name, p in zip(self.class_names, row)},
        )


def _as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Normalise model outputs so every row sums to 1.

    Models whose last layer is already a softmax pass through unchanged (up to
    float rounding); imported models that end in logits get a softmax.
    """
    rows_sum_to_one = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)
    if not rows_sum_to_one:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        outputs = np.exp(shifted)
    return outputs / outputs.sum(axis=1, keepdims=True)
