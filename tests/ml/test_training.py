"""Training end to end on tiny generated images: every preset, the fast path, learning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.bundle import VALIDATION_FILENAME, read_metadata, read_validation
from ml.predictor import Predictor
from ml.config import TrainConfig, parse_args
from ml.train import train
from tests.ml.fakes import make_dataset


def _config(data, out, **overrides) -> TrainConfig:
    settings = dict(data=str(data), out=str(out), weights=None, img_size=32, epochs=1, batch_size=8,
                    val_split=0.2, test_split=0.2, seed=0)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def backbone_weights(tmp_path_factory):
    """Random MobileNetV2 backbone weights standing in for ImageNet ones (none offline)."""
    import keras

    path = tmp_path_factory.mktemp("weights") / "backbone.weights.h5"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None).save_weights(path)
    return path


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
    # The validation split stays with the bundle (int8 is calibrated and checked on it), as decoded pixels.
    pixels, labels = read_validation(result.bundle_dir / VALIDATION_FILENAME)
    assert len(labels) == sum(result.counts["val"].values()) > 0
    assert pixels.shape == (len(labels), 32, 32, 3) and pixels.dtype == np.uint8
    assert [int((labels == i).sum()) for i in range(2)] == [result.counts["val"][name] for name in ("blue", "red")]


def test_a_learnable_task_is_learned(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=30, size=16)
    config = _config(data, tmp_path / "bundle", arch="basic_cnn", img_size=16, epochs=25,
                     learning_rate=3e-3, patience=25, augmentation="none")
    result = train(config, progress=None)
    assert result.test_metrics["accuracy"] >= 0.9
    assert result.test_metrics["count"] == 12


def test_command_line_arguments_become_a_config():
    config = parse_args(["--data", "d", "--out", "o", "--arch", "vgg16", "--weights", "none", "--fine-tune", "3",
                         "--epochs", "7", "--batch-size", "4", "--learning-rate", "0.01", "--img-size", "64",
                         "--seed", "5", "--val-split", "0.1", "--test-split", "0.3", "--class-balance", "weights"])
    assert (config.arch, config.weights, config.fine_tune, config.epochs, config.batch_size) == ("vgg16", None, 3, 7, 4)
    assert (config.learning_rate, config.img_size, config.seed) == (0.01, 64, 5)
    assert (config.val_split, config.test_split, config.class_balance) == (0.1, 0.3, "weights")
    assert parse_args(["--data", "d", "--out", "o", "--arch", "basic_cnn", "--weights", "none"]).img_size == 128


def test_fast_path_fine_tunes_the_top_block_and_nothing_below(tiny_dataset, tmp_path, backbone_weights):
    import keras

    events = []
    config = _config(tiny_dataset, tmp_path / "bundle", arch="mobilenet_v2", weights=str(backbone_weights),
                     fine_tune=11, feature_rounds=2, epochs=2, learning_rate=1e-2, class_balance="weights")
    result = train(config, progress=events.append)

    assert [e["message"] for e in events if e["stage"] == "features"] == [
        "augmentation round 1/2", "augmentation round 2/2"]
    model = Predictor.from_bundle(result.bundle_dir).model  # the end-to-end model, not the head
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 2)
    start = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    start.load_weights(backbone_weights)
    changed = {layer.name for layer, before in zip(model.layers[1].layers, start.layers)
               if any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), before.get_weights()))}
    assert changed and changed <= {layer.name for layer in start.layers[-11:]}
    assert "block_16_project" in changed

    report = json.loads((result.bundle_dir / "training_report.json").read_text())
    assert report["config"]["feature_rounds"] == 2 and report["config"]["fine_tune"] == 11
    assert report["counts"]["train"] == {"blue": 8, "red": 8}
    for name in ("training_curves.png", "test_confusion.png", "test_confusion_normalised.png", "test_report.json"):
        assert (result.bundle_dir / name).stat().st_size > 0


def test_the_fast_path_cuts_below_the_first_trainable_layer_but_never_through_a_residual_block(backbone_weights):
    from ml.architectures import build_model
    from ml.fitting import split_at_frozen_front

    frozen = build_model("mobilenet_v2", 2, 32, str(backbone_weights), fine_tune=0)
    extractor, trainable = split_at_frozen_front(frozen)  # cut at the pooled features
    assert extractor.output_shape == (None, 1280) and trainable.output_shape == (None, 2)
    assert [type(layer).__name__ for layer in trainable.layers[1:]] == ["Dropout", "Dense"]

    top_block = build_model("mobilenet_v2", 2, 32, str(backbone_weights), fine_tune=11)
    extractor, trainable = split_at_frozen_front(top_block)  # cut at block_15_add
    assert extractor.output_shape == (None, 1, 1, 160) and trainable.output_shape == (None, 2)
    # From block_15_project_BN up, the residual add also needs block_14's output: no single cut.
    assert split_at_frozen_front(build_model("mobilenet_v2", 2, 32, str(backbone_weights), fine_tune=13)) is None
    assert split_at_frozen_front(build_model("basic_cnn", 2, 32, None)) is None


def test_augmentation_is_seeded_and_touches_training_batches_only():
    from ml.fitting import pipeline

    pixels = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3)).astype("uint8")
    config = _config("unused", "unused", batch_size=4)

    def first_batch(**kwargs):
        return next(iter(pipeline(pixels, np.zeros(4), config, "none", **kwargs)))[0].numpy()

    plain = first_batch()
    np.testing.assert_array_equal(plain, pixels.astype("float32"))
    round_one, round_two = first_batch(augment=True, augment_seed=1), first_batch(augment=True, augment_seed=2)
    assert not np.allclose(round_one, plain)
    assert not np.allclose(round_one, round_two)  # feature-cache rounds must differ
    np.testing.assert_allclose(first_batch(augment=True, augment_seed=1), round_one)


def test_source_weights_balance_classes_and_the_sources_within_each_class():
    from ml.fitting import source_weights

    labels = np.array([0] * 6 + [1] * 3 + [2] * 3)
    sources = np.array(["a"] * 4 + ["b"] * 2 + ["a"] * 3 + [""] * 3)
    weights = source_weights(labels, sources)
    assert weights.mean() == pytest.approx(1.0)
    per_class = [weights[labels == c].sum() for c in range(3)]
    assert per_class == pytest.approx([per_class[0]] * 3)
    assert weights[:4].sum() == pytest.approx(weights[4:6].sum())  # sources a and b of class 0


@pytest.mark.parametrize("arch, fast", [("basic_cnn", False), ("mobilenet_v2", True)])
def test_source_balance_trains_on_source_sub_folders(tmp_path, backbone_weights, arch, fast):
    data = make_dataset(tmp_path / "data", per_class=10, size=32)
    for name in ("blue", "red"):  # a few images of each class come from a second collection
        (data / name / "other").mkdir()
        for path in sorted((data / name).glob("*.png"))[:3]:
            path.rename(data / name / "other" / path.name)
    extra = dict(weights=str(backbone_weights), fine_tune=11, feature_rounds=2) if fast else {}
    config = _config(data, tmp_path / "bundle", arch=arch, class_balance="sources", **extra)
    result = train(config, progress=None)
    assert result.counts["train"] == {"blue": 6, "red": 6}
    assert parse_args(["--data", "d", "--out", "o", "--class-balance", "sources"]).class_balance == "sources"
