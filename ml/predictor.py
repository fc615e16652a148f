"""Serving a model bundle: load once, then classify batches of images.

A :class:`Predictor` is built once per worker process and kept for its life;
building one is the expensive part (importing TensorFlow, reading the model,
tracing the graph, exporting and checking a faster runtime), classifying is
cheap. :meth:`Predictor.warm_up` classifies one encoded image right after
loading so the first real image is not the slow one.

Which runtime runs the model is :mod:`ml.runtime_choice`'s decision: workers ask for
``"auto"`` (the fastest runtime that matches Keras); training and evaluation
keep the default, Keras' own traced forward pass, and never export anything.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ml.bundle import MODEL_FILENAME, BundleError, BundleMetadata, read_metadata
from ml.keras_io import load_model, output_count_of, quiet_tensorflow
from ml.preprocessing import ImageSource, prepare_batch
from ml.runtime_choice import Candidate, Selection, select_runtime, validation_batch
from ml.runtimes import ONNXRUNTIME, TENSORFLOW, OnnxRuntime, TensorFlowRuntime, as_probabilities


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]


def limit_tensorflow_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools; call before TensorFlow runs anything.

    With N worker processes on C cores, each process gets C // N threads so the
    processes do not fight over cores (:func:`ml.cores.threads_per_process`). Environment
    variables are set too, for what runs in a child process (the ONNX export).
    """
    quiet_tensorflow()
    import tensorflow as tf

    threads = max(1, int(threads))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = str(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow refuses once its runtime started; the earlier cap stays in force.
        pass


class Predictor:
    """A loaded model with the metadata that says how to feed it.

    ``runtime`` is ``"tensorflow"`` (Keras' traced forward pass), ``"auto"``
    or ``"onnxruntime"`` (see :func:`ml.runtime_choice.select_runtime`);
    ``export_dir`` caches the ONNX export, ``model_path`` (the model's file,
    when it came from one) saves re-saving it for the export, ``threads`` caps
    ONNX Runtime's threads as :func:`limit_tensorflow_threads` caps TensorFlow's.
    A ``selection`` already made (a remote runtime, :mod:`ml.sagemaker`) is
    served as it is, with no local model to check or choose a runtime for.
    """

    def __init__(
        self,
        model: Any,
        metadata: BundleMetadata,
        *,
        runtime: str = TENSORFLOW,
        export_dir: str | Path | None = None,
        model_path: str | Path | None = None,
        threads: int | None = None,
        selection: Selection | None = None,
    ):
        self.model = model
        self.metadata = metadata
        if selection is None:
            outputs = output_count_of(model)
            if outputs != len(metadata.class_names):
                raise BundleError(
                    f"The model has {outputs} outputs but the metadata names "
                    f"{len(metadata.class_names)} classes ({', '.join(metadata.class_names)})."
                )
            selection = select_runtime(
                model,
                validation_batch(metadata.input_size, metadata.preprocessing),
                preference=runtime,
                export_dir=export_dir,
                model_path=model_path,
                threads=threads,
                reference=TensorFlowRuntime(model),
            )
        self.selection: Selection = selection
        self._infer = selection.runtime

    @classmethod
    def from_files(cls, model_path: str | Path, metadata: BundleMetadata, **options: Any) -> "Predictor":
        return cls(load_model(model_path), metadata, model_path=model_path, **options)

    @classmethod
    def from_onnx(cls, onnx_path: str | Path, metadata: BundleMetadata, *, threads: int | None = None,
                  max_difference: float | None = None, name: str = ONNXRUNTIME) -> "Predictor":
        """Serve an ONNX graph checked beforehand, without loading TensorFlow at all.

        ``name`` says which: the float export (checked against Keras) or the int8 graph
        (checked against the float one, :mod:`ml.quantization`).
        """
        runtime = OnnxRuntime(onnx_path, threads=threads, name=name)
        return cls(None, metadata, selection=Selection(runtime, {name: Candidate(name, max_difference)}))

    @classmethod
    def from_bundle(cls, directory: str | Path, **options: Any) -> "Predictor":
        directory = Path(directory)
        return cls.from_files(directory / MODEL_FILENAME, read_metadata(directory), **options)

    @property
    def runtime_name(self) -> str:
        return self.selection.name

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.class_names)

    def predict_array(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for an already prepared batch, shape (N, classes)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        return as_probabilities(self._infer(batch), self.metadata.temperature)

    def predict(self, images: Sequence[ImageSource]) -> list[Prediction]:
        """Classify images given as bytes, paths or PIL images, in order."""
        batch = prepare_batch(images, self.metadata.input_size, self.metadata.preprocessing)
        return [self._to_prediction(row) for row in self.predict_array(batch)]

    def predict_each(self, images: Sequence[ImageSource]) -> list[Prediction | Exception]:
        """Classify images in one model call; an unreadable image gets its error in its place.

        A micro-batch holds images from different uploads, and one corrupt
        file must not fail the others (:meth:`predict` raises for the lot).
        """
        prepared: list[np.ndarray | Exception] = []
        for image in images:
            try:
                prepared.append(prepare_batch([image], self.metadata.input_size, self.metadata.preprocessing))
            except Exception as exc:  # Pillow raises many types for a bad file
                prepared.append(exc)
        good = [item for item in prepared if not isinstance(item, Exception)]
        rows = iter(self.predict_array(np.concatenate(good)) if good else ())
        return [item if isinstance(item, Exception) else self._to_prediction(next(rows)) for item in prepared]

    def warm_up(self) -> float:
        """Classify one encoded (JPEG) image end to end; return the seconds it took.

        Bytes rather than an array, so Pillow's decoder and the preprocessing
        are warm too, not only the model.
        """
        from PIL import Image

        size = self.metadata.input_size
        pixels = np.linspace(0, 255, size * size * 3).reshape(size, size, 3).astype(np.uint8)
        encoded = io.BytesIO()
        Image.fromarray(pixels).save(encoded, format="JPEG")
        started = time.perf_counter()
        self.predict([encoded.getvalue()])
        return time.perf_counter() - started

    def _to_prediction(self, row: np.ndarray) -> Prediction:
        best = int(np.argmax(row))
        return Prediction(
            label=self.class_names[best],
            confidence=float(row[best]),
            probabilities={name: float(p) for name, p in zip(self.class_names, row)},
        )

