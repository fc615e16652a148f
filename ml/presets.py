"""Named training presets: the old notebooks' experiments, and the demo model's recipe.

A preset is a set of :class:`ml.config.TrainConfig` options; the options a
caller gives win over it (``--preset notebook_vgg16 --epochs 5``). A run
records its effective settings and the preset's name, so it can be repeated.

The notebooks are reproduced as far as they were written down. What they did
not say is stated in each ``title``: the split of the basic CNN notebooks
(taken as the VGG16 notebooks' 0.8 / 0.1 / 0.1) and the epochs and early
stopping of the VGG16 notebooks (taken as the basic CNN notebooks' 100 and 10).
The notebooks scaled pixels by 1/255 (``rescale``), VGG16's included: the
presets keep that, where the ``vgg16`` architecture alone uses VGG's own
BGR-mean preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    title: str
    settings: dict[str, Any]


_NOTEBOOK = {
    "img_size": 224, "preprocessing": "rescale", "learning_rate": 1e-3, "epochs": 100, "patience": 10,
    "dropout": 0.2, "val_split": 0.1, "test_split": 0.1, "class_balance": "none", "lr_schedule": "constant",
}
_BASIC_CNN = {**_NOTEBOOK, "arch": "basic_cnn", "weights": "none", "augmentation": "none"}
_VGG16 = {**_NOTEBOOK, "arch": "vgg16", "weights": "imagenet", "dense_units": "4096,1072",
          "augmentation": "notebook"}

PRESETS: dict[str, Preset] = {
    "notebook_basic_cnn_1": Preset(
        "Basic CNN notebook 1: blocks 32, 64 (Conv → Dropout 0.2 → MaxPool), Dense 32 and 16 with dropout, "
        "224 px, /255, Adam 1e-3, batch 32, ≤100 epochs, early stopping 10; split 0.8/0.1/0.1 (assumed)",
        {**_BASIC_CNN, "conv_filters": "32,64", "dense_units": "32,16", "batch_size": 32},
    ),
    "notebook_basic_cnn_2": Preset(
        "Basic CNN notebook 2: blocks 32, 64, 128, Dense 64, 32 and 16, batch 16; otherwise as notebook 1",
        {**_BASIC_CNN, "conv_filters": "32,64,128", "dense_units": "64,32,16", "batch_size": 16},
    ),
    "notebook_vgg16": Preset(
        "VGG16 notebook: frozen VGG16 → Flatten → 4096 → 1072 → Dropout 0.2, /255, ImageDataGenerator "
        "augmentation, batch 64, split 0.8/0.1/0.1; ≤100 epochs, early stopping 10 (assumed)",
        {**_VGG16, "fine_tune": 0, "batch_size": 64},
    ),
    **{
        f"notebook_vgg16_unfreeze_{layers}": Preset(
            f"VGG16 notebook, top {layers} VGG16 layer{'s' if layers > 1 else ''} unfrozen, batch 32; "
            "otherwise as notebook_vgg16",
            {**_VGG16, "fine_tune": layers, "batch_size": 32},
        )
        for layers in (1, 2, 3)
    },
}
