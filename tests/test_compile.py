"""Compile once, at import or activation: the ONNX export checked against Keras, stored beside the model."""

from __future__ import annotations

import dataclasses
import io
import json
import posixpath
import subprocess
import sys

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from classification import queueing
from classification.models import ModelVersion
from classification.registry import artifacts, compiling, versions
from classification.serving import process_model
from ml import onnx_export, runtime_choice
from tests.conftest import REPO_DIR
from tests.test_s3 import BUCKET, s3, s3_endpoint  # noqa: F401  (the moto S3 fixtures)

pytestmark = pytest.mark.django_db


def test_importing_or_activating_queues_the_compile_once_committed(tiny_bundle, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(queueing, "compile_model", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        version = versions.import_bundle(tiny_bundle)
    with django_capture_on_commit_callbacks(execute=True):
        versions.activate(version)
    assert queued == [version.pk, version.pk]  # not compiled yet when activated: asked again

    ModelVersion.objects.filter(pk=version.pk).update(compiled_at="2026-01-01T00:00Z")
    version.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        versions.activate(version)
    assert queued == [version.pk, version.pk]  # compiled: nothing to do


def test_compiling_stores_the_checked_export_beside_the_model_once(active_tiny_model, monkeypatch):
    version = compiling.compile_version(active_tiny_model.pk)

    assert version.onnx_error == "" and version.compiled_at is not None
    assert version.onnx_max_difference < runtime_choice.MATCH_TOLERANCE
    assert posixpath.dirname(version.onnx_artifact.name) == posixpath.dirname(version.artifact.name)
    with default_storage.open(version.onnx_artifact.name, "rb") as fh:
        assert artifacts.sha256_of_stream(fh) == version.onnx_sha256

    monkeypatch.setattr(onnx_export, "_export_in_child", lambda *a: pytest.fail("exported twice"))
    assert compiling.compile_version(version.pk).onnx_sha256 == version.onnx_sha256


def test_an_export_failure_is_recorded_and_keras_serves(active_tiny_model, monkeypatch, settings):
    def fail(model_path, output):
        raise onnx_export.ExportError("Unsupported op: MysteryLayer")

    monkeypatch.setattr(onnx_export, "_export_in_child", fail)
    version = compiling.compile_version(active_tiny_model.pk)

    assert version.onnx_error == "export failed: Unsupported op: MysteryLayer"
    assert not version.onnx_artifact and version.onnx_sha256 == "" and version.compiled_at is not None
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    predictor, _ = process_model.ensure_loaded()
    assert predictor.runtime_name == "tensorflow"


def test_serving_loads_the_stored_export_and_never_exports(active_tiny_model, monkeypatch):
    compiling.compile_version(active_tiny_model.pk)
    monkeypatch.setattr(onnx_export, "_export_in_child", lambda *a: pytest.fail("a serving process exported"))
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())

    predictor, version = process_model.ensure_loaded()

    assert predictor.runtime_name == "onnxruntime" and version.pk == active_tiny_model.pk
    assert process_model.state.compiled == version.onnx_sha256


def test_a_compiled_model_is_served_without_importing_tensorflow(active_tiny_model):
    version = compiling.compile_version(active_tiny_model.pk)
    path = artifacts.local_onnx_path(version)
    script = (
        "import json, sys; from ml.bundle import BundleMetadata; from ml.predictor import Predictor; "
        "p = Predictor.from_onnx(sys.argv[1], BundleMetadata(**json.loads(sys.argv[2]))); p.warm_up(); "
        "print(p.runtime_name, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    metadata = json.dumps(dataclasses.asdict(versions.metadata_of(version)))
    result = subprocess.run([sys.executable, "-c", script, str(path), metadata], cwd=REPO_DIR, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.split() == ["onnxruntime", "False", "False"], result.stderr[-2000:]


def test_the_api_and_the_admin_show_the_compile_result(active_tiny_model, admin_client):
    version = compiling.compile_version(active_tiny_model.pk)

    body = admin_client.get(f"/api/v1/model-versions/{version.pk}/").json()
    assert body["onnx_sha256"] == version.onnx_sha256 and body["onnx_error"] == ""
    assert body["onnx_max_difference"] == pytest.approx(version.onnx_max_difference)
    assert body["compiled_at"] and body["load_error"] == ""
    page = admin_client.get(reverse("admin:classification_modelversion_change", args=[version.pk])).content.decode()
    assert f"yes, max difference from Keras {version.onnx_max_difference:.1e}" in page
    assert version.onnx_sha256 in page


def test_on_s3_the_export_is_stored_beside_the_model_in_the_bucket_and_served_from_it(s3, tiny_bundle, settings, tmp_path,
                                                                                     monkeypatch):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "MODEL_CACHE_DIR": tmp_path / "cache"}
    version = compiling.compile_version(versions.import_bundle(tiny_bundle, activate_now=True).pk)

    assert version.onnx_error == "" and version.onnx_artifact.name.endswith("model.onnx")
    assert posixpath.dirname(version.onnx_artifact.name) == posixpath.dirname(version.artifact.name)
    stored = s3.get_object(Bucket=BUCKET, Key=version.onnx_artifact.name)["Body"].read()
    assert artifacts.sha256_of_stream(io.BytesIO(stored)) == version.onnx_sha256
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    assert process_model.ensure_loaded()[0].runtime_name == "onnxruntime"
    assert artifacts.local_onnx_path(version).parent.name == version.onnx_sha256  # downloaded once, by content
