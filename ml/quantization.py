"""int8: the exported ONNX graph quantized by ONNX Runtime, served only when it loses (almost) nothing.

Static quantization (QDQ format, int8 weights per channel, uint8 activations
whose ranges are calibrated on the version's validation images) replaces the
float convolutions and matrix products with integer ones, which modern x86
CPUs (AVX2, AVX-512 VNNI) run several times faster per operation. Dynamic
quantization would only cover the dense layers, which are a small share of a
convolutional network's time; static needs calibration images, and the
version's own validation split is what it was tuned on.

Quantization changes answers a little; a version's int8 graph is served only
when, on its validation images, accuracy drops by at most
:data:`MAX_ACCURACY_DROP` and the int8 top-1 label agrees with the float one
on at least :data:`MIN_AGREEMENT` of them (:func:`check_int8`). Otherwise, or
when something fails on the way, the float graph serves, and the reason is
kept. NumPy and ONNX Runtime only: no TensorFlow, no Django.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml.errors import first_line
from ml.runtimes import OnnxRuntime, Runtime

logger = logging.getLogger(__name__)

#: Largest accuracy loss (a fraction: 0.005 is half a percentage point) int8 may show on validation.
MAX_ACCURACY_DROP = 0.005
#: Smallest share of validation images on which int8 and float must give the same top-1 label.
MIN_AGREEMENT = 0.99
#: Calibration reads at most this many validation images; the ranges settle long before.
CALIBRATION_IMAGES = 256
_BATCH = 16


@dataclass
class Int8Check:
    """The int8 graph against the float one on the validation images: the numbers and the decision."""

    images: int
    fp32_accuracy: float | None = None
    int8_accuracy: float | None = None
    agreement: float | None = None
    accepted: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def decide(images: int, fp32_accuracy: float, int8_accuracy: float, agreement: float) -> Int8Check:
    """Apply the rule: accuracy down by at most :data:`MAX_ACCURACY_DROP`, agreement at least :data:`MIN_AGREEMENT`."""
    check = Int8Check(images, round(fp32_accuracy, 4), round(int8_accuracy, 4), round(agreement, 4))
    drop = fp32_accuracy - int8_accuracy
    if drop > MAX_ACCURACY_DROP + 1e-9:
        check.reason = f"accuracy drops by {100 * drop:.2f} points (at most {100 * MAX_ACCURACY_DROP:.1f} allowed)"
    elif agreement < MIN_AGREEMENT - 1e-9:
        check.reason = f"agrees with float on {100 * agreement:.1f} % of top-1 labels (at least {100 * MIN_AGREEMENT:.0f} % needed)"
    else:
        check.accepted = True
        check.reason = "within the limits"
    return check


def check_int8(fp32: Runtime, int8: Runtime, batch: np.ndarray, labels: np.ndarray) -> Int8Check:
    """Top-1 of both runtimes on a prepared validation ``batch`` with its ``labels`` (class indices)."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return Int8Check(0, reason="no validation images to check int8 on")
    fp32_top = _top1(fp32, batch)
    int8_top = _top1(int8, batch)
    return decide(
        len(labels),
        float(np.mean(fp32_top == labels)),
        float(np.mean(int8_top == labels)),
        float(np.mean(fp32_top == int8_top)),
    )


def quantize(onnx_path: str | Path, output: str | Path, calibration: np.ndarray) -> Path:
    """Write the statically quantized (QDQ) graph of ``onnx_path`` to ``output``, ranges from ``calibration``.

    ``calibration`` is a prepared float batch (as :func:`ml.preprocessing.prepare_batch` makes).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not len(calibration):
        raise ValueError("int8 calibration needs at least one image")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    input_name = OnnxRuntime(onnx_path).input_name
    images = np.ascontiguousarray(calibration[:CALIBRATION_IMAGES], dtype=np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([images[start:start + _BATCH] for start in range(0, len(images), _BATCH)])

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(prefix="int8-") as scratch:
        source = _preprocessed(Path(onnx_path), Path(scratch) / "prepared.onnx")
        partial = output.with_name(f".{output.name}.{os.getpid()}.part")
        try:
            quantize_static(
                str(source), str(partial), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            )
            partial.replace(output)  # never a half-written file under the final name
        finally:
            partial.unlink(missing_ok=True)
    return output


def quantize_and_check(
    onnx_path: str | Path, output: str | Path, batch: np.ndarray, labels: np.ndarray, *, threads: int | None = None,
) -> Int8Check:
    """Quantize with the validation ``batch`` as calibration, then check int8 against float on it.

    Failures are a rejection with their reason, not an exception: the float graph then serves.
    """
    if not len(labels):
        return Int8Check(0, reason="no validation images stored with this version")
    try:
        quantize(onnx_path, output, batch)
        return check_int8(OnnxRuntime(onnx_path, threads=threads), OnnxRuntime(output, threads=threads), batch, labels)
    except Exception as exc:  # ONNX Runtime's quantizer raises many types; each means "float serves"
        logger.warning("int8 quantization failed: %s", first_line(exc))
        return Int8Check(len(labels), reason=f"quantization failed: {first_line(exc)}")


def _top1(runtime: Runtime, batch: np.ndarray) -> np.ndarray:
    rows = [np.asarray(runtime(batch[start:start + _BATCH])) for start in range(0, len(batch), _BATCH)]
    return np.concatenate(rows).argmax(axis=1)


def _preprocessed(source: Path, target: Path) -> Path:
    """ONNX Runtime's recommended pre-processing (shape inference, graph fusions); the source if it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
        return target
    except Exception as exc:  # an op the symbolic shape inference does not know: quantize the graph as it is
        logger.info("int8 pre-processing skipped: %s", first_line(exc))
        return source
