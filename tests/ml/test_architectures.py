"""Presets build as documented; pretrained weights fail fast and clearly offline."""

from __future__ import annotations

import time

import pytest

from ml import architectures
from ml.architectures import WeightsUnavailableError, build_model


def test_basic_cnn_layers_read_as_documented():
    model = build_model("basic_cnn", 3, img_size=32, weights=None)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["Conv2D", "Dropout", "MaxPooling2D"] * 3 + ["Flatten", "Dense", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"] == [32, 64, 128]
    assert model.output_shape == (None, 3)


def test_vgg16_head_matches_the_original_classifier():
    model = build_model("vgg16", 2, img_size=32, weights=None)
    dense = [layer.units for layer in model.layers if type(layer).__name__ == "Dense"]
    assert dense == [4096, 1072, 2]
    assert model.get_layer("features").__class__.__name__ == "Flatten"


def test_fine_tune_unfreezes_only_the_top_backbone_layers(tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    import keras

    keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None).save_weights(weights)
    model = build_model("mobilenet_v2", 3, img_size=32, weights=str(weights), fine_tune=4)
    backbone = model.layers[1]
    trainable = [layer.name for layer in backbone.layers if layer.trainable]
    assert trainable == [layer.name for layer in backbone.layers[-4:]]

    frozen = build_model("mobilenet_v2", 3, img_size=32, weights=str(weights), fine_tune=0)
    assert not frozen.layers[1].trainable_weights
    assert frozen.get_layer("predictions").trainable_weights


def test_random_backbone_is_trained_whole():
    model = build_model("mobilenet_v2", 3, img_size=32, weights=None, fine_tune=0)
    assert len(model.layers[1].trainable_weights) == len([w for w in model.layers[1].weights if w.trainable])
    assert model.layers[1].trainable_weights


def test_imagenet_offline_fails_fast_naming_the_file_and_the_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(architectures, "_keras_cache_dirs", lambda: [tmp_path])
    monkeypatch.setattr(architectures, "_online", lambda: False)
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as caught:
        build_model("mobilenet_v2", 3, img_size=160, weights="imagenet")
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5" in message
    assert "--weights PATH" in message


def test_imagenet_is_passed_to_keras_when_cached(tmp_path, monkeypatch):
    cached = tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir()
    cached.write_bytes(b"")
    monkeypatch.setattr(architectures, "_keras_cache_dirs", lambda: [tmp_path])
    monkeypatch.setattr(architectures, "_online", lambda: pytest.fail("no probe when the file is cached"))
    assert architectures._keras_weights("vgg16", "imagenet", 64) == "imagenet"
    assert architectures._keras_weights("vgg16", None, 64) is None


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_model("mobilenet_v2", 3, img_size=32, weights=str(tmp_path / "nope.h5"))


def test_unknown_architecture_and_small_inputs_are_refused():
    with pytest.raises(ValueError, match="Unknown architecture"):
        build_model("resnet", 3, img_size=32, weights=None)
    with pytest.raises(ValueError, match="at least 32 px"):
        build_model("vgg16", 3, img_size=16, weights=None)
