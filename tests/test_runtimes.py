"""The serving runtime: ONNX Runtime only where it matches Keras, TensorFlow otherwise, and said so."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from ml import onnx_export, runtime_choice, runtimes
from ml.bundle import read_metadata
from ml.keras_io import load_model
from ml.predictor import Predictor
from ml.preprocessing import prepare_batch
from tests.conftest import image_bytes


@pytest.fixture(scope="module")
def tiny_model(tiny_bundle):
    return load_model(tiny_bundle / "model.keras"), read_metadata(tiny_bundle)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """Shared, like a worker's model cache: the tiny model is exported once for these tests."""
    return tmp_path_factory.mktemp("onnx-cache")


def photos():
    return [image_bytes(size=(50 + 7 * i, 40), color=(40 * i, 255 - 30 * i, 90)) for i in range(6)]


def test_onnx_runtime_matches_keras_within_tolerance(tiny_model, export_dir):
    model, metadata = tiny_model
    predictor = Predictor(model, metadata, runtime="onnxruntime", export_dir=export_dir)

    batch = prepare_batch(photos(), metadata.input_size, metadata.preprocessing)
    keras_probabilities = model.predict(batch, verbose=0)
    assert predictor.runtime_name == "onnxruntime"
    assert np.abs(predictor.predict_array(batch) - keras_probabilities).max() < runtime_choice.MATCH_TOLERANCE
    assert [p.label for p in predictor.predict(photos())] == [
        metadata.class_names[i] for i in keras_probabilities.argmax(axis=1)
    ]
    assert (export_dir / onnx_export.onnx_file_name()).is_file()  # cached for the next process


def test_auto_serves_the_faster_of_the_runtimes_that_match(tiny_model, export_dir):
    model, metadata = tiny_model
    predictor = Predictor(model, metadata, runtime="auto", export_dir=export_dir)

    candidates = predictor.selection.candidates
    assert set(candidates) == {"tensorflow", "onnxruntime"}
    assert all(candidate.matches for candidate in candidates.values())
    fastest = min(candidates.values(), key=lambda candidate: candidate.seconds_per_image)
    assert predictor.runtime_name == fastest.name


def test_a_failed_export_falls_back_to_tensorflow_and_logs_it(tiny_model, monkeypatch, caplog):
    def broken_export(model, directory=None, **options):
        raise RuntimeError("tf2onnx cannot convert layer Foo")

    monkeypatch.setattr(runtime_choice, "export_onnx", broken_export)
    model, metadata = tiny_model
    with caplog.at_level(logging.WARNING, logger="ml.runtime_choice"):
        predictor = Predictor(model, metadata, runtime="auto")

    assert predictor.runtime_name == "tensorflow"
    assert "ONNX export failed (tf2onnx cannot convert layer Foo); serving with TensorFlow" in caplog.text
    assert "export failed" in predictor.selection.summary()
    assert predictor.predict(photos()[:1])[0].label in metadata.class_names


def test_an_export_past_its_limits_is_stopped_and_tensorflow_serves(tiny_model, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(onnx_export, "EXPORT_TIMEOUT_S", 0)  # the real export child, stopped at once
    model, metadata = tiny_model
    with caplog.at_level(logging.WARNING, logger="ml.runtime_choice"):
        predictor = Predictor(model, metadata, runtime="auto", export_dir=tmp_path)

    assert predictor.runtime_name == "tensorflow"
    assert "ONNX export failed (export stopped: it took more than 0 s); serving with TensorFlow" in caplog.text
    assert list(tmp_path.iterdir()) == []  # no half-written file left for the next process


def test_an_export_that_disagrees_with_keras_is_not_served(tiny_model, export_dir, monkeypatch, caplog):
    exact = runtimes.OnnxRuntime.__call__

    def off_by_a_little(self, batch):
        outputs = exact(self, batch)
        return outputs + np.array([1e-3, -1e-3, 0.0], dtype=outputs.dtype)

    monkeypatch.setattr(runtimes.OnnxRuntime, "__call__", off_by_a_little)
    model, metadata = tiny_model
    with caplog.at_level(logging.WARNING, logger="ml.runtime_choice"):
        predictor = Predictor(model, metadata, runtime="onnxruntime", export_dir=export_dir)

    assert predictor.runtime_name == "tensorflow"
    assert "differs from Keras by 1.0e-03" in caplog.text


def test_training_and_evaluation_keep_keras_and_export_nothing(tiny_model, monkeypatch):
    monkeypatch.setattr(runtime_choice, "export_onnx", lambda *a, **k: pytest.fail("exported without being asked"))
    model, metadata = tiny_model

    assert Predictor(model, metadata).runtime_name == "tensorflow"


def test_unknown_runtime_is_refused(tiny_model):
    model, metadata = tiny_model
    with pytest.raises(ValueError, match="Unknown runtime 'tpu'"):
        Predictor(model, metadata, runtime="tpu")


def test_predict_each_fails_only_the_unreadable_image(tiny_model):
    model, metadata = tiny_model
    predictor = Predictor(model, metadata)
    good = photos()[:2]

    outcomes = predictor.predict_each([good[0], b"not an image", good[1]])

    assert isinstance(outcomes[1], Exception)
    assert [o.probabilities for o in (outcomes[0], outcomes[2])] == [p.probabilities for p in predictor.predict(good)]


@pytest.mark.django_db
@pytest.mark.parametrize("preference", ["auto", "tensorflow"])
def test_the_worker_logs_and_records_the_runtime_it_serves_with(active_tiny_model, settings, monkeypatch, caplog, preference):
    from classification.serving import process_model
    from classification.models import WorkerProcess

    settings.CLASSIFIER_INFERENCE_RUNTIME = preference
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    with caplog.at_level(logging.INFO, logger="classification.serving.process_model"):
        predictor, _ = process_model.ensure_loaded()

    row = WorkerProcess.objects.get(pid=os.getpid())
    assert row.runtime == predictor.runtime_name
    assert row.runtime in (runtimes.RUNTIMES if preference == "auto" else ["tensorflow"])
    assert f"Serving model {active_tiny_model} with {row.runtime} (" in caplog.text
