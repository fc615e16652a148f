"""Compiling a model version once, when it is imported or activated: its ONNX export, checked.

Run by the registry task on the training queue (``classification.tasks``),
never in a serving process: exporting takes TensorFlow, ``tf2onnx`` and tens of
seconds, which a serving process would otherwise spend at every start. The
export is checked against Keras on the validation images
(:func:`ml.runtime_choice.export_difference`) and stored beside the model in
Django's storage (S3 included), with its SHA-256; serving processes then load
it with ONNX Runtime alone (``classification.serving.process_model``). The
check's result, or why there is no export, is recorded on the version and
shown in the admin and the API. The checked export is quantized to int8 here
too, and checked on the version's validation split
(:mod:`classification.registry.quantizing`). This module imports TensorFlow: workers and
commands only, never a web request.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.utils import timezone

from classification.models import ModelVersion
from classification.registry import artifacts, quantizing
from ml.errors import first_line

logger = logging.getLogger(__name__)


def compile_version(version_id: int, *, again: bool = False) -> ModelVersion | None:
    """Export, check and store the ONNX graph of a version (once; ``again`` redoes it). None: no such version."""
    from ml.keras_io import load_model
    from ml.onnx_export import export_onnx
    from ml.runtime_choice import MATCH_TOLERANCE, export_difference

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None or (version.compiled_at is not None and not again):
        return version
    fields = {"onnx_artifact": "", "onnx_sha256": "", "onnx_max_difference": None, "onnx_error": ""}
    try:
        model_path = artifacts.local_model_path(version)
        model = load_model(model_path)
        with tempfile.TemporaryDirectory(prefix="compile-") as scratch:
            onnx_path = export_onnx(model, scratch, model_path=model_path)
            difference = export_difference(model, onnx_path, version.input_size, version.preprocessing)
            fields["onnx_max_difference"] = difference
            if difference >= MATCH_TOLERANCE:
                fields["onnx_error"] = f"differs from Keras by {difference:.1e} (limit {MATCH_TOLERANCE:.0e})"
                fields.update(quantizing.refused_fields("no trusted float export to quantize"))
            else:
                fields["onnx_artifact"], fields["onnx_sha256"] = artifacts.store_beside(version, Path(onnx_path), "model.onnx")
                fields.update(quantizing.int8_fields(version, onnx_path))  # int8, checked on the validation split
    except Exception as exc:  # tf2onnx and onnxruntime raise many types; each means "no export to trust"
        logger.warning("Compiling %s failed: %s", version, first_line(exc), exc_info=True)
        fields["onnx_error"] = f"export failed: {first_line(exc)}"
        fields.update(quantizing.refused_fields("no float export to quantize"))
    fields["compiled_at"] = timezone.now()
    ModelVersion.objects.filter(pk=version.pk).update(**fields)
    version.refresh_from_db()
    logger.info("Compiled %s: %s", version, version.onnx_error or f"max difference from Keras {version.onnx_max_difference:.1e}")
    logger.info("int8 for %s: %s", version, version.int8_summary())
    return version
