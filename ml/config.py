"""What a training run can be told, declared once.

:class:`TrainConfig` is the single declaration of the training options: each
field carries its default, its help text and its bounds or choices. The
command line (``python -m ml.train`` and ``manage.py train``), the admin's
training form and any API build their fields from :func:`training_options`,
so an option added or changed here is offered everywhere with the same
default and the same checks (a test compares them).

This module is plain Python (no TensorFlow), so a web process can validate a
training request without importing a deep-learning framework.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Architecture:
    """What the rest of the system needs to know about an architecture without building it."""

    title: str
    preprocessing: str  # a mode of ml.preprocessing.scale_pixels
    default_size: int
    min_size: int


#: Architectures by name; their builders are in :mod:`ml.architectures`.
ARCHITECTURES: dict[str, Architecture] = {
    "mobilenet_v2": Architecture("MobileNetV2 (light)", preprocessing="mobilenet", default_size=224, min_size=32),
    "basic_cnn": Architecture("Basic CNN", preprocessing="rescale", default_size=128, min_size=8),
    "vgg16": Architecture("VGG16", preprocessing="vgg16", default_size=224, min_size=32),
}

CLASS_BALANCES = {
    "none": "none",
    "weights": "class weights: every class weighs the same in the loss",
    "sources": "class and source-folder weights: and so do the source sub-folders within a class",
}


def option(default: Any, help: str, *, choices: Mapping[str, str] | None = None,
           minimum: float | None = None, maximum: float | None = None, label: str = "") -> Any:
    """A :class:`TrainConfig` field with what every interface needs to offer it."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                            "maximum": maximum, "label": label})


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = option("mobilenet_v2", "architecture", choices={name: a.title for name, a in ARCHITECTURES.items()},
                       label="architecture")
    weights: str | None = option("imagenet", "imagenet | none | PATH to backbone weights (on the training machine)")
    fine_tune: int = option(0, "top N backbone layers to train (-1: all)", minimum=-1)
    epochs: int = option(20, "most epochs to train (early stopping may end sooner)", minimum=1, maximum=1000)
    batch_size: int = option(32, "images per training step", minimum=1, maximum=1024)
    learning_rate: float = option(1e-3, "Adam's learning rate", minimum=1e-7, maximum=1.0)
    img_size: int | None = option(None, "square input size (default: the architecture's)", minimum=8, maximum=1024)
    seed: int = option(0, "seed of the split, the augmentation and the initial weights")
    val_split: float = option(0.15, "share of each class held out to validate (early stopping)", minimum=0.0, maximum=0.5)
    test_split: float = option(0.15, "share of each class held out to test once at the end", minimum=0.0, maximum=0.5)
    class_balance: str = option("none", "how classes (and their source sub-folders) are weighed in the loss",
                                choices=CLASS_BALANCES)
    patience: int = option(5, "early-stopping patience on val_loss, in epochs", minimum=1)
    dropout: float = option(0.2, "dropout before the classifier", minimum=0.0, maximum=0.9)
    augment: bool = option(True, "augment training images (flip, small rotation, shift, zoom, brightness)")
    feature_rounds: int = option(0, "fast path for a frozen backbone: cache features of N augmentation rounds",
                                 minimum=0, maximum=20)
    name: str = option("", "name of the model version (default: architecture and data folder)")
    description: str = option("", "where the model comes from, shown in the UI")

    def __post_init__(self) -> None:
        self.weights = normalise_weights(self.weights)
        for spec in training_options():
            value = getattr(self, spec.name)
            spec.check(value)
        if self.img_size is None:
            self.img_size = ARCHITECTURES[self.arch].default_size
        if self.val_split + self.test_split >= 1:
            raise ValueError("val_split and test_split must sum below 1.")


def normalise_weights(value: str | None) -> str | None:
    """The CLI spelling of ``weights`` ("none", "imagenet", a path) as the builders take it."""
    if value is None or str(value).lower() in ("", "none", "null", "random"):
        return None
    return "imagenet" if str(value).lower() == "imagenet" else str(value)


@dataclass(frozen=True)
class TrainingOption:
    """One :class:`TrainConfig` field as an interface offers it."""

    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str
    optional: bool  # None is allowed (and means "the default of the architecture")
    choices: Mapping[str, str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    label: str = ""

    @property
    def title(self) -> str:
        """What people call it: its label, else its name in words."""
        return self.label or self.name.replace("_", " ")

    def check(self, value: Any) -> None:
        """Raise ValueError saying what is wrong with ``value`` for this option."""
        if value is None:
            if self.optional:
                return
            raise ValueError(f"{self.name} is required.")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"Unknown {self.title} {value!r}; expected one of {', '.join(self.choices)}.")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum}, got {value}.")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name} must be at most {self.maximum}, got {value}.")


def training_options() -> list[TrainingOption]:
    """The options of :class:`TrainConfig` (all but ``data`` and ``out``), in declaration order."""
    hints = typing.get_type_hints(TrainConfig)
    options = []
    for spec in dataclasses.fields(TrainConfig):
        if spec.name in ("data", "out"):
            continue
        kinds = [kind for kind in typing.get_args(hints[spec.name]) if kind is not type(None)] or [hints[spec.name]]
        options.append(TrainingOption(
            name=spec.name, type=kinds[0], default=spec.default, help=spec.metadata["help"],
            optional=type(None) in typing.get_args(hints[spec.name]), choices=spec.metadata["choices"],
            minimum=spec.metadata["minimum"], maximum=spec.metadata["maximum"], label=spec.metadata["label"],
        ))
    return options


# --- command line --------------------------------------------------------------------------


def add_training_arguments(parser: argparse.ArgumentParser, with_out: bool = True) -> None:
    """The training options as command-line flags, for ``python -m ml.train`` and ``manage.py train``."""
    parser.add_argument("--data", required=True,
                        help="folder with one sub-folder of images per class, or s3://bucket/prefix")
    if with_out:
        parser.add_argument("--out", required=True, help="bundle folder to write")
    for spec in training_options():
        flag = "--" + spec.name.replace("_", "-")
        if spec.type is bool:
            negated = "--no-" + spec.name.replace("_", "-")
            parser.add_argument(negated if spec.default else flag, dest=spec.name, default=spec.default,
                                action="store_false" if spec.default else "store_true", help=spec.help)
            continue
        parser.add_argument(flag, dest=spec.name, type=spec.type, default=spec.default, help=spec.help,
                            choices=list(spec.choices) if spec.choices else None)


def config_from_options(options: Mapping[str, Any]) -> TrainConfig:
    """A TrainConfig from parsed options (extra keys, such as a command's own, are ignored)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{key: value for key, value in options.items() if key in known})


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description="Train an image classifier into a model bundle.")
    add_training_arguments(parser)
    return config_from_options(vars(parser.parse_args(argv)))
