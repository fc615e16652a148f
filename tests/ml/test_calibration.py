"""Temperature scaling: fitted on validation, stored in the bundle, applied by every runtime."""

from __future__ import annotations

import numpy as np
import pytest

from ml.bundle import read_metadata
from ml.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability
from ml.config import TrainConfig
from ml.predictor import Predictor
from ml.preprocessing import prepare_batch
from ml.runtimes import as_probabilities
from ml.train import train
from tests.ml.fakes import make_dataset


def overconfident(count: int = 4000, true_temperature: float = 2.5, seed: int = 0):
    """Answers whose true logits were sharpened by ``true_temperature``: a fit should undo it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(count, 3))
    calibrated = apply_temperature(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1.0)
    labels = np.array([rng.choice(3, p=row) for row in calibrated])
    sharpened = apply_temperature(calibrated, 1 / true_temperature)
    return sharpened, labels


def test_a_fit_recovers_the_temperature_and_lowers_the_calibration_error():
    probabilities, labels = overconfident()
    temperature = fit_temperature(probabilities, labels)
    assert temperature == pytest.approx(2.5, rel=0.1)
    before = expected_calibration_error(probabilities, labels)
    after = expected_calibration_error(apply_temperature(probabilities, temperature), labels)
    assert before > 0.1 and after < 0.03


def test_temperature_never_changes_the_winning_class():
    probabilities, _ = overconfident(count=500)
    for temperature in (0.3, 1.0, 4.0):
        assert (apply_temperature(probabilities, temperature).argmax(1) == probabilities.argmax(1)).all()


def test_the_reliability_bins_count_every_answer_once():
    probabilities, labels = overconfident(count=300)
    bins = reliability(probabilities, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 300
    perfect = np.eye(3)[labels]
    assert expected_calibration_error(perfect, labels) == 0.0


def test_training_fits_a_temperature_on_validation_and_every_runtime_applies_it(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=20, size=16)
    config = TrainConfig(data=str(data), out=str(tmp_path / "bundle"), arch="basic_cnn", img_size=16, epochs=6,
                         batch_size=8, val_split=0.25, test_split=0.25, learning_rate=3e-3, augmentation="none")
    result = train(config, progress=None)

    metadata = read_metadata(result.bundle_dir)
    assert metadata.temperature != 1.0 and metadata.temperature == result.metadata.temperature
    assert {"test_ece", "test_ece_uncalibrated", "temperature"} <= set(metadata.metrics)
    assert (result.bundle_dir / "test_reliability.png").stat().st_size > 5000

    image = [data / "red" / "red_000.png"]
    raw = Predictor.from_bundle(result.bundle_dir, runtime="tensorflow")
    served = {}
    for runtime in ("tensorflow", "onnxruntime"):
        predictor = Predictor.from_bundle(result.bundle_dir, runtime=runtime, export_dir=tmp_path / "onnx")
        assert predictor.runtime_name == runtime
        served[runtime] = predictor.predict(image)[0].probabilities
    softmax = as_probabilities(raw._infer(prepare_batch(image, 16, metadata.preprocessing)))  # the model's own
    expected = apply_temperature(softmax, metadata.temperature)[0]
    assert not np.allclose(expected, softmax[0], atol=1e-3)  # the temperature shows
    for runtime, probabilities in served.items():
        assert list(probabilities.values()) == pytest.approx(list(expected), abs=1e-5), runtime
