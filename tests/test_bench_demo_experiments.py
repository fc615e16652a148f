"""The demo-recipe experiments' features: each pooling is what it says, from the same backbone."""

import numpy as np
import pytest

from tests.conftest import SHARED_DIR

WEIGHTS = SHARED_DIR / "weights" / "mobilenet_v2_1.0_imagenet_notop.weights.h5"


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"the shared ImageNet weights are not at {WEIGHTS} (set SHARED_DIR)")
def test_average_and_max_pooled_features_are_the_models_own_average_beside_the_maximum_of_its_feature_map():
    import keras

    from bench.demo_experiments import CLASSES, _extractor
    from ml.architectures import FEATURES_LAYER, build_model

    batch = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    own = _extractor(64, "avg").predict(batch, verbose=0)
    both = _extractor(64, "avg+max").predict(batch, verbose=0)
    largest = _extractor(64, "max").predict(batch, verbose=0)
    model = build_model("mobilenet_v2", len(CLASSES), 64, str(WEIGHTS))
    feature_map = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).input).predict(batch, verbose=0)

    assert both.shape == (2, 2 * own.shape[1])
    np.testing.assert_allclose(both[:, :own.shape[1]], own, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both[:, own.shape[1]:], largest, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(largest, feature_map.max(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    assert (largest >= own - 1e-5).all()
