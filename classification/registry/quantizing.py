"""int8 for a version, made where its ONNX export is made and checked (the registry task, never a web request).

The checked float export is quantized by ONNX Runtime with the version's
validation split as calibration (:mod:`ml.quantization`), and checked on the
same images: it serves only when accuracy drops by at most half a point and
it agrees with float on at least 99 % of top-1 labels. The decision, both
accuracies and the agreement are recorded on the version (admin, API) and
logged; an accepted graph is stored beside the model with its SHA-256 for the
workers to load. A version without a stored validation split (the demo model,
an imported file) is refused int8 for that reason: without its own images
nobody can say what int8 costs it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage

from classification.models import ModelVersion
from classification.registry import artifacts
from ml.bundle import VALIDATION_FILENAME, read_validation
from ml.errors import first_line
from ml.preprocessing import scale_pixels
from ml.quantization import Int8Check, quantize_and_check

logger = logging.getLogger(__name__)

INT8_FILENAME = "model.int8.onnx"


def quantize_version(version: ModelVersion, onnx_path: str | Path, *, threads: int | None = None) -> ModelVersion:
    """Quantize ``version``'s checked float export, decide, record the decision (and the graph when it serves)."""
    ModelVersion.objects.filter(pk=version.pk).update(**int8_fields(version, onnx_path, threads=threads))
    version.refresh_from_db()
    logger.info("int8 for %s: %s", version, version.int8_summary())
    return version


def int8_fields(version: ModelVersion, onnx_path: str | Path, *, threads: int | None = None) -> dict:
    """The version's int8 fields after quantizing and checking (the graph stored beside it when it serves)."""
    with tempfile.TemporaryDirectory(prefix="int8-") as scratch:
        output = Path(scratch) / INT8_FILENAME
        check = _check(version, onnx_path, output, threads)
        stored = artifacts.store_beside(version, output, INT8_FILENAME) if check.accepted else ("", "")
    return {**_decision(check), "int8_artifact": stored[0], "int8_sha256": stored[1]}


def refused_fields(reason: str) -> dict:
    """The int8 fields of a version that has no float export to quantize (float or Keras serves)."""
    return {**_decision(Int8Check(0, reason=reason)), "int8_artifact": "", "int8_sha256": ""}


def _decision(check: Int8Check) -> dict:
    return {
        "int8_decision": ModelVersion.Int8Decision.SERVED if check.accepted else ModelVersion.Int8Decision.REFUSED,
        "int8_reason": "" if check.accepted else check.reason[:300], "int8_images": check.images,
        "int8_fp32_accuracy": check.fp32_accuracy, "int8_accuracy": check.int8_accuracy,
        "int8_agreement": check.agreement,
    }


def _check(version: ModelVersion, onnx_path: str | Path, output: Path, threads: int | None) -> Int8Check:
    try:
        pixels, labels = validation_split(version)
    except Exception as exc:  # a damaged or missing file in storage: float serves, and says why
        return Int8Check(0, reason=f"validation split unreadable: {first_line(exc)}")
    batch = scale_pixels(pixels.astype(np.float32), version.preprocessing) if len(labels) else pixels
    return quantize_and_check(onnx_path, output, batch, labels, threads=threads)


def validation_split(version: ModelVersion) -> tuple[np.ndarray, np.ndarray]:
    """The validation pixels and labels stored with the version (empty when it has none)."""
    stored = version.report_files.get(VALIDATION_FILENAME)
    if not stored:
        return np.zeros((0,)), np.zeros((0,), dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="validation-") as scratch:
        local = Path(scratch) / VALIDATION_FILENAME
        with default_storage.open(stored, "rb") as source, open(local, "wb") as target:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                target.write(chunk)
        return read_validation(local)
