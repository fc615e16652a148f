"""int8 for a version: quantized on its stored validation split, the decision recorded, shown, and stored beside it."""

from __future__ import annotations

import posixpath
import shutil

import numpy as np
import pytest
from django.core.files.storage import default_storage

from classification.models import ModelVersion
from classification.registry import artifacts, quantizing, versions
from ml.bundle import write_validation
from ml.keras_io import load_model
from ml.onnx_export import export_onnx
from ml.quantization import Int8Check
from ml.runtimes import OnnxRuntime

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def exported(tiny_bundle, tmp_path_factory):
    """The tiny model's float export, and validation pixels labelled as the float graph labels them (but two)."""
    path = export_onnx(load_model(tiny_bundle / "model.keras"), tmp_path_factory.mktemp("onnx"))
    pixels = np.random.default_rng(0).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    labels = OnnxRuntime(path)(pixels.astype(np.float32) / 255.0).argmax(axis=1)
    labels[:2] = (labels[:2] + 1) % 3
    return path, pixels, labels


def _version_with_validation(tiny_bundle, tmp_path, pixels, labels) -> ModelVersion:
    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    write_validation(bundle, pixels, labels)
    return versions.import_bundle(bundle)


def test_int8_is_checked_on_the_versions_validation_split_and_stored_beside_it(tiny_bundle, tmp_path, exported, admin_client):
    onnx_path, pixels, labels = exported
    version = _version_with_validation(tiny_bundle, tmp_path, pixels, labels)
    assert version.report_files["validation.npz"]  # kept with the version, as training wrote it

    version = quantizing.quantize_version(version, onnx_path)

    assert version.int8_decision == ModelVersion.Int8Decision.SERVED, version.int8_summary()
    assert version.int8_images == 60 and version.int8_reason == ""
    assert version.int8_fp32_accuracy == pytest.approx(58 / 60, abs=1e-4)
    assert abs(version.int8_fp32_accuracy - version.int8_accuracy) <= 0.005 and version.int8_agreement >= 0.99
    assert posixpath.dirname(version.int8_artifact.name) == posixpath.dirname(version.artifact.name)
    with default_storage.open(version.int8_artifact.name, "rb") as fh:
        assert artifacts.sha256_of_stream(fh) == version.int8_sha256
        graph = fh.seek(0) or fh.read()
    assert b"QuantizeLinear" in graph

    shown = admin_client.get(f"/admin/classification/modelversion/{version.pk}/change/").content.decode()
    assert "int8 serves (accuracy 96.7 % float" in shown
    api = admin_client.get(f"/api/v1/model-versions/{version.pk}/").json()
    assert api["int8_decision"] == "served" and api["int8_agreement"] == version.int8_agreement
    assert api["int8_fp32_accuracy"] == version.int8_fp32_accuracy and api["int8_accuracy"] == version.int8_accuracy


def test_a_version_without_validation_data_is_served_in_float_and_says_why(active_tiny_model, exported):
    version = quantizing.quantize_version(active_tiny_model, exported[0])
    assert version.int8_decision == ModelVersion.Int8Decision.REFUSED
    assert version.int8_reason == "no validation images stored with this version"
    assert not version.int8_artifact and version.int8_sha256 == "" and version.int8_accuracy is None


def test_a_refused_check_stores_its_numbers_but_no_graph(tiny_bundle, tmp_path, exported, monkeypatch):
    onnx_path, pixels, labels = exported
    version = _version_with_validation(tiny_bundle, tmp_path, pixels, labels)
    refused = Int8Check(60, 0.9, 0.88, 0.97, False, "accuracy drops by 2.00 points (at most 0.5 allowed)")
    monkeypatch.setattr(quantizing, "quantize_and_check", lambda *args, **kwargs: refused)

    version = quantizing.quantize_version(version, onnx_path)
    assert (version.int8_decision, version.int8_accuracy, version.int8_agreement) == ("refused", 0.88, 0.97)
    assert version.int8_reason == refused.reason and not version.int8_artifact
    assert "float serves (int8 refused)" in version.int8_summary() and "2.00 points" in version.int8_summary()


def test_compiling_a_version_makes_its_int8_graph_and_a_worker_process_serves_it(
    tiny_bundle, tmp_path, exported, monkeypatch
):
    from classification.models import WorkerProcess
    from classification.registry import compiling
    from classification.serving import process_model

    _, pixels, labels = exported
    version = versions.activate(_version_with_validation(tiny_bundle, tmp_path, pixels, labels))

    version = compiling.compile_version(version.pk)  # what the registry task runs at import and activation

    assert version.onnx_artifact and version.int8_decision == "served", version.int8_summary()
    assert version.int8_images == 60 and version.int8_agreement >= 0.99
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    predictor, served = process_model.ensure_loaded()
    assert served.pk == version.pk and predictor.runtime_name == "onnxruntime-int8"
    float_graph = OnnxRuntime(artifacts.local_onnx_path(version))
    batch = pixels[:8].astype(np.float32) / 255.0
    served_rows, float_rows = predictor.predict_array(batch), float_graph(batch)
    assert (served_rows.argmax(1) == float_rows.argmax(1)).all() and 0 < np.abs(served_rows - float_rows).max() < 0.2
    assert WorkerProcess.objects.get(model_version=version).runtime == "onnxruntime-int8"

    # Refused (or no validation split): the same version's float export serves, and the process switches to it.
    ModelVersion.objects.filter(pk=version.pk).update(**quantizing.refused_fields("checked by hand"))
    predictor, _ = process_model.ensure_loaded()
    assert predictor.runtime_name == "onnxruntime"


def test_an_int8_graph_that_cannot_be_loaded_leaves_the_float_export_serving(
    tiny_bundle, tmp_path, exported, monkeypatch, caplog
):
    from classification.registry import compiling
    from classification.serving import process_model

    _, pixels, labels = exported
    version = versions.activate(_version_with_validation(tiny_bundle, tmp_path, pixels, labels))
    version = compiling.compile_version(version.pk)
    ModelVersion.objects.filter(pk=version.pk).update(int8_sha256="0" * 64)  # the stored file no longer matches
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    monkeypatch.setattr(process_model, "_unloadable_int8", set())

    predictor, _ = process_model.ensure_loaded()
    assert predictor.runtime_name == "onnxruntime" and "Could not load the int8 graph" in caplog.text
    loads = process_model.state.load_count
    process_model.ensure_loaded()
    assert process_model.state.load_count == loads  # not retried on every task
