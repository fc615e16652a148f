"""Named presets reproduce the old notebooks; options given win; the effective settings are recorded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ml.architectures import build_model
from ml.config import TrainConfig, parse_args, resolve_config
from ml.presets import PRESETS
from tests.conftest import REPO_DIR


def test_every_preset_is_listed_by_help_with_its_settings():
    result = subprocess.run([sys.executable, "-m", "ml.train", "--help"], cwd=REPO_DIR, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name in PRESETS:
        assert f"  {name}: " in result.stdout
    assert "--conv-filters 32,64 --dense-units 32,16" in result.stdout


def test_a_preset_fills_in_what_is_not_given_and_given_options_win():
    config = parse_args(["--data", "d", "--out", "o", "--preset", "notebook_basic_cnn_2", "--epochs", "3"])
    assert (config.preset, config.arch, config.conv_filters, config.dense_units) == (
        "notebook_basic_cnn_2", "basic_cnn", "32,64,128", "64,32,16")
    assert (config.batch_size, config.epochs, config.patience, config.weights) == (16, 3, 10, None)
    assert (config.val_split, config.test_split, config.pixel_scaling) == (0.1, 0.1, "rescale")


def test_an_option_given_at_its_default_value_still_wins_over_the_preset():
    config = parse_args(["--data", "d", "--out", "o", "--preset", "notebook_vgg16", "--batch-size", "32"])
    assert config.batch_size == 32  # the preset says 64; 32 is also the plain default


def test_the_vgg16_notebooks_scale_by_255_and_augment_like_image_data_generator():
    for layers in (0, 1, 2, 3):
        name = "notebook_vgg16" if layers == 0 else f"notebook_vgg16_unfreeze_{layers}"
        config = resolve_config("d", "o", {"preset": name})
        assert (config.arch, config.pixel_scaling, config.augmentation, config.fine_tune) == (
            "vgg16", "rescale", "notebook", layers)
        assert config.batch_size == (64 if layers == 0 else 32)
    assert TrainConfig(data="d", out="o", arch="vgg16").pixel_scaling == "vgg16"  # the architecture alone: VGG's own


def test_basic_cnn_needs_no_weights_flag_any_more():
    config = parse_args(["--data", "d", "--out", "o", "--arch", "basic_cnn"])
    assert config.weights is None
    assert TrainConfig(data="d", out="o").weights == "imagenet"  # MobileNetV2 has ImageNet weights


def test_notebook_one_builds_two_blocks_and_two_dense_layers_with_dropout():
    config = resolve_config("d", "o", {"preset": "notebook_basic_cnn_1", "img_size": 32})
    model = build_model(config.arch, 3, config.img_size, config.weights, config.fine_tune, config.dropout,
                        **config.layer_widths())
    kinds = [(type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
             for layer in model.layers[1:]]
    assert kinds == [
        ("Conv2D", 32), ("Dropout", None), ("MaxPooling2D", None),
        ("Conv2D", 64), ("Dropout", None), ("MaxPooling2D", None),
        ("Flatten", None), ("Dense", 32), ("Dropout", None), ("Dense", 16), ("Dropout", None), ("Dense", 3),
    ]


@pytest.mark.parametrize("settings, message", [
    ({"preset": "notebook_resnet"}, "Unknown preset"),
    ({"conv_filters": "32,abc"}, "comma-separated whole numbers"),
    ({"dense_units": "0"}, "between 1 and 8192"),
    ({"augment": False}, "Unknown training settings: augment"),
])
def test_bad_settings_are_refused_with_a_message(settings, message):
    with pytest.raises(ValueError, match=message):
        resolve_config("d", "o", settings)
