"""ensure_active_model, import_model and activate_model, and workers switching models."""

from __future__ import annotations

import time

import h5py
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from classification.registry import artifacts, versions
from classification.serving import process_model
from classification.models import ModelVersion
from ml.predictor import Predictor
from tests.conftest import SHARED_DIR, image_bytes, labelled_samples, wait_until_finished

LEGACY_H5 = SHARED_DIR / "weights" / "vww_96.h5"


def _needs_legacy_file():
    if not LEGACY_H5.is_file():
        pytest.skip(f"the legacy Keras 2 model is not at {LEGACY_H5} (set SHARED_DIR)")


@pytest.mark.django_db
def test_ensure_active_model_imports_the_default_once(settings, tiny_bundle, capsys):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "DEFAULT_MODEL_DIR": tiny_bundle}

    call_command("ensure_active_model")
    call_command("ensure_active_model")

    [version] = ModelVersion.objects.all()
    assert version.is_active and version.name == "tiny-test-model"
    assert version.artifact_sha256 and version.artifact.storage.exists(version.artifact.name)
    output = capsys.readouterr().out
    assert "Imported and activated" in output and "Active model" in output
    # Compiled once, before any worker starts, so serving processes load the export, not TensorFlow.
    assert output.count("Compiled: ONNX export checked against Keras and stored") == 1
    assert version.compiled_at is not None and version.onnx_sha256


@pytest.mark.django_db
def test_import_bundle_folder_stays_inactive_until_activated(tiny_bundle, active_tiny_model):
    call_command("import_model", str(tiny_bundle), "--name", "ignored-for-bundles")
    new = ModelVersion.objects.exclude(pk=active_tiny_model.pk).get()
    assert not new.is_active

    call_command("activate_model", str(new.pk))

    assert list(ModelVersion.objects.filter(is_active=True)) == [new]


@pytest.mark.django_db
def test_activate_unknown_version_is_a_clear_error(active_tiny_model):
    with pytest.raises(CommandError, match="No model version 999999"):
        call_command("activate_model", "999999")
    assert ModelVersion.objects.get(is_active=True) == active_tiny_model


@pytest.mark.django_db
def test_import_real_legacy_keras2_hdf5_and_serve_it(db):
    _needs_legacy_file()
    call_command(
        "import_model", str(LEGACY_H5), "--classes", "no_human,human", "--preprocess", "rescale", "--activate"
    )

    version = ModelVersion.objects.get(is_active=True)
    assert (version.input_size, version.class_names) == (96, ["no_human", "human"])
    assert version.artifact.name.endswith(".keras")
    predictor = Predictor.from_files(artifacts.local_model_path(version), versions.metadata_of(version))
    samples = labelled_samples()
    predictions = predictor.predict([path for path, _ in samples])
    person_photos = [p for p, (_, label) in zip(predictions, samples) if label == "human"]
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-5 for p in predictions)
    assert sum(p.label == "human" for p in person_photos) >= 3  # a person detector finds the people


@pytest.mark.django_db
def test_import_legacy_hdf5_with_wrong_class_count_is_refused(db):
    _needs_legacy_file()
    with pytest.raises(CommandError, match="2 outputs but 3 class names"):
        call_command("import_model", str(LEGACY_H5), "--classes", "a,b,c", "--preprocess", "rescale")
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_import_a_file_that_is_not_a_model(tmp_path):
    fake = tmp_path / "notes.h5"
    with h5py.File(fake, "w") as handle:
        handle.create_dataset("numbers", data=[1, 2, 3])
    text = tmp_path / "notes.keras"
    text.write_text("not a zip")

    for path in (fake, text):
        with pytest.raises(CommandError, match="not a (loadable )?Keras model"):
            call_command("import_model", str(path), "--classes", "a,b", "--preprocess", "rescale")
    other = tmp_path / "x.txt"
    other.write_text("x")
    with pytest.raises(CommandError, match="unsupported model file type"):
        call_command("import_model", str(other), "--classes", "a,b", "--preprocess", "none")
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_running_worker_switches_to_a_newly_activated_model(client, tiny_bundle, active_tiny_model, celery_worker):
    def classify_one():
        response = client.post(
            reverse("upload"),
            {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]},
            HTTP_ACCEPT="application/json",
        )
        return wait_until_finished([response.json()["accepted"][0]["id"]])[0]

    assert classify_one().model_version_id == active_tiny_model.pk
    loads = process_model.state.load_count
    newer = versions.import_bundle(tiny_bundle)
    deadline = time.monotonic() + 120  # the registry task compiles it (this worker serves every queue)
    while not ModelVersion.objects.filter(pk=newer.pk, compiled_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the new version was never compiled"
        time.sleep(0.2)
    call_command("activate_model", str(newer.pk))

    row = classify_one()

    assert row.status == "done" and row.model_version_id == newer.pk
    assert process_model.state.load_count == loads + 1


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["truncated", "not-a-zip"])
def test_damaged_model_is_refused_on_activation_and_the_previous_keeps_serving(
    client, tiny_bundle, active_tiny_model, django_user_model, damage
):
    from django.core.files.storage import default_storage

    broken = versions.import_bundle(tiny_bundle)
    path = default_storage.path(broken.artifact.name)
    data = open(path, "rb").read()
    damaged = data[: len(data) // 2] if damage == "truncated" else b"garbage" * 100
    with open(path, "wb") as fh:
        fh.write(damaged)

    with pytest.raises(CommandError, match="Refused: .* SHA-256"):
        call_command("activate_model", str(broken.pk))
    # Even with a matching hash, a file that is not a sound Keras archive is refused.
    ModelVersion.objects.filter(pk=broken.pk).update(artifact_sha256=__import__("hashlib").sha256(damaged).hexdigest())
    with pytest.raises(CommandError, match="Keras archive"):
        call_command("activate_model", str(broken.pk))

    staff = django_user_model.objects.create_superuser("s", "s@example.com", "pw")
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff)
    response = api.post(f"/api/v1/model-versions/{broken.pk}/activate/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "damaged_model"
    assert ModelVersion.objects.get(is_active=True) == active_tiny_model


@pytest.mark.django_db
def test_import_a_keras2_style_hdf5_the_test_writes(tmp_path):
    from tests.ml.test_keras_io_legacy import _keras2_style_h5

    path = tmp_path / "checkpoint.hdf5"
    original = _keras2_style_h5(path)
    call_command("import_model", str(path), "--classes", "cat,dog", "--preprocess", "none", "--activate")

    version = ModelVersion.objects.get(is_active=True)
    assert (version.input_size, version.class_names, version.architecture) == (8, ["cat", "dog"], "imported hdf5")
    predictor = Predictor.from_files(artifacts.local_model_path(version), versions.metadata_of(version))
    import numpy as np

    batch = np.random.default_rng(1).random((2, 8, 8, 3)).astype("float32") * 255
    np.testing.assert_allclose(predictor.predict_array(batch), original.predict(batch, verbose=0), atol=1e-5)


@pytest.mark.django_db(transaction=True)
def test_a_new_model_that_fails_to_load_leaves_the_previous_one_serving(
    client, tmp_path, active_tiny_model, celery_worker, caplog
):
    import zipfile

    from ml.bundle import BundleMetadata

    broken_file = tmp_path / "model.keras"
    with zipfile.ZipFile(broken_file, "w") as archive:  # a sound archive whose config is nonsense
        archive.writestr("config.json", '{"class_name": "NoSuchLayer", "config": {}}')
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", "")
    metadata = BundleMetadata(name="broken", architecture="x", class_names=["a", "b", "c"], input_size=32,
                              preprocessing="rescale")
    broken = versions.create_version(broken_file, metadata)
    call_command("activate_model", str(broken.pk))  # passes the archive check; only loading shows the damage

    response = client.post(
        reverse("upload"), {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]},
        HTTP_ACCEPT="application/json",
    )
    [row] = wait_until_finished([response.json()["accepted"][0]["id"]])

    assert row.status == "done" and row.model_version_id == active_tiny_model.pk
    assert "still serving version" in caplog.text
