"""Training end to end on tiny generated images: every preset, the fast path, learning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.bundle import read_metadata
from ml.predictor import Predictor
from ml.train import TrainConfig, parse_args, train
from tests.ml.fakes import make_dataset


def _config(data, out, **overrides) -> TrainConfig:
    settings = dict(data=str(data), out=str(out), weights=None, img_size=32, epochs=1, batch_size=8,
                    val_split=0.2, test_split=0.2, seed=0)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.mark.parametrize("arch, preprocessing", [
    ("basic_cnn", "rescale"), ("vgg16", "vgg16"), ("mobilenet_v2", "mobilenet"),
])
def test_each_preset_trains_one_epoch_into_a_servable_bundle(tiny_dataset, tmp_path, arch, preprocessing):
    events = []
    result = train(_config(tiny_dataset, tmp_path / "bundle", arch=arch), progress=events.append)

    metadata = read_metadata(result.bundle_dir)
    assert metadata.class_names == ["blue", "red"]
    assert metadata.preprocessing == preprocessing and metadata.input_size == 32
    assert "test_accuracy" in metadata.metrics
    epochs = [e for e in events if e["stage"] == "epoch"]
    assert len(epochs) == 1 and {"loss", "val_loss", "accuracy"} <= set(epochs[0]["metrics"])
    assert events[-1]["stage"] == "done"
    predictions = Predictor.from_bundle(result.bundle_dir).predict([tiny_dataset / "red" / "red_000.png"])
    assert predictions[0].label in ("blue", "red")


def test_a_learnable_task_is_learned(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=30, size=16)
    config = _config(data, tmp_path / "bundle", arch="basic_cnn", img_size=16, epochs=25,
                     learning_rate=3e-3, patience=25, augment=False)
    result = train(config, progress=None)
    assert result.test_metrics["accuracy"] >= 0.9
    assert result.test_metrics["count"] == 12


def test_fast_path_trains_the_head_of_a_frozen_backbone_into_an_end_to_end_model(tiny_dataset, tmp_path):
    import keras

    weights = tmp_path / "backbone.weights.h5"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None).save_weights(weights)
    events = []
    config = _config(tiny_dataset, tmp_path / "bundle", arch="mobilenet_v2", weights=str(weights),
                     feature_rounds=2, epochs=2, class_balance="weights")
    result = train(config, progress=events.append)

    assert [e["message"] for e in events if e["stage"] == "features"] == [
        "augmentation round 1/2", "augmentation round 2/2"]
    model = Predictor.from_bundle(result.bundle_dir).model
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 2)
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    backbone.load_weights(weights)
    np.testing.assert_allclose(model.layers[1].get_weights()[0], backbone.get_weights()[0])  # still frozen

    report = json.loads((result.bundle_dir / "training_report.json").read_text())
    assert report["config"]["feature_rounds"] == 2
    assert report["counts"]["train"] == {"blue": 8, "red": 8}
    for name in ("training_curves.png", "test_confusion.png", "test_confusion_normalised.png", "test_report.json"):
        assert (result.bundle_dir / name).stat().st_size > 0


def test_command_line_arguments_become_a_config():
    config = parse_args(["--data", "d", "--out", "o", "--arch", "vgg16", "--weights", "none", "--fine-tune", "3",
                         "--epochs", "7", "--batch-size", "4", "--learning-rate", "0.01", "--img-size", "64",
                         "--seed", "5", "--val-split", "0.1", "--test-split", "0.3", "--class-balance", "weights"])
    assert (config.arch, config.weights, config.fine_tune, config.epochs, config.batch_size) == ("vgg16", None, 3, 7, 4)
    assert (config.learning_rate, config.img_size, config.seed) == (0.01, 64, 5)
    assert (config.val_split, config.test_split, config.class_balance) == (0.1, 0.3, "weights")
    assert parse_args(["--data", "d", "--out", "o", "--arch", "basic_cnn", "--weights", "none"]).img_size == 128
