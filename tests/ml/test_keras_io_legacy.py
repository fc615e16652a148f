"""Legacy Keras 2 HDF5 models load through ml.keras_io despite their stale arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.keras_io import load_model


def _keras2_style_h5(path):
    """A tiny DepthwiseConv2D model saved as HDF5, then given the ``groups`` Keras 2 wrote."""
    import h5py
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.DepthwiseConv2D(3, name="depthwise"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.save(path)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        layers = config["config"]["layers"]
        depthwise = next(layer for layer in layers if layer["class_name"] == "DepthwiseConv2D")
        depthwise["config"]["groups"] = 1
        h5.attrs["model_config"] = json.dumps(config)
    return model


def test_legacy_h5_with_groups_loads_and_predicts_the_same(tmp_path):
    import keras

    path = tmp_path / "legacy.h5"
    original = _keras2_style_h5(path)
    with pytest.raises(Exception, match="groups"):
        keras.models.load_model(path, compile=False)  # the bug this shim exists for
    loaded = load_model(path)
    batch = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), original.predict(batch, verbose=0), atol=1e-6)


def test_shared_visual_wake_words_model_loads(shared):
    path = shared / "weights" / "vww_96.h5"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    model = load_model(path)
    assert model.input_shape == (None, 96, 96, 3)
    assert model.output_shape == (None, 2)
    output = model.predict(np.full((1, 96, 96, 3), 0.5, dtype="float32"), verbose=0)
    np.testing.assert_allclose(output.sum(), 1.0, atol=1e-4)
