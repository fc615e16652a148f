"""What a training run can be told, declared once.

:class:`TrainConfig` is the single declaration of the training options: each
field carries its default, its help text and its bounds or choices. The
command line (``python -m ml.train`` and ``manage.py train``), the admin's
training form and any API build their fields from :func:`training_options`,
so an option added or changed here is offered everywhere with the same
default and the same checks (a test compares them). Named presets
(:mod:`ml.presets`, e.g. the old notebooks) fill in options the caller leaves
out; :func:`resolve_config` is the one place that combines the two.

This module is plain Python (no TensorFlow), so a web process can validate a
training request without importing a deep-learning framework.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ml.preprocessing import PREPROCESSING_MODES
from ml.presets import PRESETS


@dataclass(frozen=True)
class Architecture:
    """What the rest of the system needs to know about an architecture without building it."""

    title: str
    preprocessing: str  # a mode of ml.preprocessing.scale_pixels
    default_size: int
    min_size: int
    pretrained: bool  # "imagenet" weights exist for it
    conv_filters: tuple[int, ...] = ()
    dense_units: tuple[int, ...] = ()


#: Architectures by name; their builders are in :mod:`ml.architectures`.
ARCHITECTURES: dict[str, Architecture] = {
    "mobilenet_v2": Architecture("MobileNetV2 (light)", "mobilenet", 224, 32, pretrained=True),
    "basic_cnn": Architecture("Basic CNN", "rescale", 128, 8, pretrained=False,
                              conv_filters=(32, 64, 128), dense_units=(32,)),
    "vgg16": Architecture("VGG16", "vgg16", 224, 32, pretrained=True, dense_units=(4096, 1072)),
}

CLASS_BALANCES = {
    "none": "none",
    "weights": "class weights: every class weighs the same in the loss",
    "sources": "class and source-folder weights: and so do the source sub-folders within a class",
}
AUGMENTATIONS = {
    "none": "none",
    "mild": "mild: flip, ±3% rotation, 5% shifts, ±10% zoom, ±15% brightness",
    "notebook": "the old notebooks' ImageDataGenerator: flip, 40° rotation, 20% shifts, 0.2° shear, 20% zoom",
}
LR_SCHEDULES = {"constant": "constant", "cosine": "cosine decay to zero over the epochs"}
#: ``weights`` value meaning "ImageNet for an architecture that has them, else random".
DEFAULT_WEIGHTS = "default"


def option(default: Any, help: str, *, choices: Mapping[str, str] | None = None,
           minimum: float | None = None, maximum: float | None = None, label: str = "") -> Any:
    """A :class:`TrainConfig` field with what every interface needs to offer it."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                            "maximum": maximum, "label": label})


@dataclass
class TrainConfig:
    data: str
    out: str
    preset: str = option("", "named preset that fills in the options not given (e.g. an old notebook)",
                         choices={"": "none", **{name: preset.title for name, preset in PRESETS.items()}})
    arch: str = option("mobilenet_v2", "architecture", choices={name: a.title for name, a in ARCHITECTURES.items()},
                       label="architecture")
    weights: str | None = option(DEFAULT_WEIGHTS, "default (imagenet where the architecture has it) | imagenet | "
                                 "none | PATH to backbone weights (on the training machine)")
    conv_filters: str = option("", "filters of each convolution block, e.g. 32,64,128 (blank: the architecture's)")
    dense_units: str = option("", "units of each dense layer of the head, e.g. 64,32,16 (blank: the architecture's)")
    preprocessing: str = option("", "how pixels are scaled for the model (blank: the architecture's)",
                                choices={"": "the architecture's", **PREPROCESSING_MODES})
    fine_tune: int = option(0, "top N backbone layers to train (-1: all)", minimum=-1)
    epochs: int = option(20, "most epochs to train (early stopping may end sooner)", minimum=1, maximum=1000)
    batch_size: int = option(32, "images per training step", minimum=1, maximum=1024)
    learning_rate: float = option(1e-3, "Adam's learning rate", minimum=1e-7, maximum=1.0)
    lr_schedule: str = option("constant", "learning-rate schedule", choices=LR_SCHEDULES)
    img_size: int | None = option(None, "square input size (default: the architecture's)", minimum=8, maximum=1024)
    seed: int = option(0, "seed of the split, the augmentation and the initial weights")
    val_split: float = option(0.15, "share of each class held out to validate (early stopping, calibration)",
                              minimum=0.0, maximum=0.5)
    test_split: float = option(0.15, "share of each class held out to test once at the end", minimum=0.0, maximum=0.5)
    class_balance: str = option("none", "how classes (and their source sub-folders) are weighed in the loss",
                                choices=CLASS_BALANCES)
    patience: int = option(5, "early-stopping patience on val_loss, in epochs", minimum=1)
    dropout: float = option(0.2, "dropout rate of the head", minimum=0.0, maximum=0.9)
    augmentation: str = option("mild", "random changes to training images", choices=AUGMENTATIONS)
    feature_rounds: int = option(0, "fast path for a frozen backbone: cache features of N augmentation rounds",
                                 minimum=0, maximum=20)
    calibrate: bool = option(True, "fit a temperature on the validation split so confidences mean what they say")
    name: str = option("", "name of the model version (default: architecture and data folder)")
    description: str = option("", "where the model comes from, shown in the UI")

    def __post_init__(self) -> None:
        for spec in training_options():
            spec.check(getattr(self, spec.name))
        spec = ARCHITECTURES[self.arch]
        self.weights = normalise_weights(self.weights, spec)
        if self.img_size is None:
            self.img_size = spec.default_size
        for name in ("conv_filters", "dense_units"):
            widths(getattr(self, name), name)
        if self.val_split + self.test_split >= 1:
            raise ValueError("val_split and test_split must sum below 1.")

    @property
    def pixel_scaling(self) -> str:
        """The preprocessing mode the model is trained and served with."""
        return self.preprocessing or ARCHITECTURES[self.arch].preprocessing

    def layer_widths(self) -> dict[str, tuple[int, ...] | None]:
        """``conv_filters`` and ``dense_units`` for :func:`ml.architectures.build_model` (None: its own)."""
        return {name: widths(getattr(self, name), name) for name in ("conv_filters", "dense_units")}

    def settings(self) -> dict[str, Any]:
        """Every option's effective value: what a run records, so it can be repeated."""
        return {key: value for key, value in dataclasses.asdict(self).items() if key not in ("data", "out")}


def widths(text: str, name: str = "widths") -> tuple[int, ...] | None:
    """``"32,64"`` → (32, 64); blank → None. Raises ValueError for anything else."""
    if not str(text).strip():
        return None
    try:
        values = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated whole numbers, e.g. 32,64; got {text!r}.") from None
    if any(value < 1 or value > 8192 for value in values):
        raise ValueError(f"{name} must be between 1 and 8192 each; got {text!r}.")
    return values


def normalise_weights(value: str | None, architecture: Architecture | None = None) -> str | None:
    """The spellings of ``weights`` ("default", "none", "imagenet", a path) as the builders take them."""
    if value is None or str(value).lower() in ("", "none", "null", "random"):
        return None
    if str(value).lower() == DEFAULT_WEIGHTS:
        return "imagenet" if architecture is None or architecture.pretrained else None
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
            known = ", ".join(choice for choice in self.choices if choice)
            raise ValueError(f"Unknown {self.title} {value!r}; expected one of {known}.")
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


def resolve_config(data: str, out: str, given: Mapping[str, Any]) -> TrainConfig:
    """A config from the options ``given``, the rest from the named preset (if any), then the defaults."""
    known = {spec.name for spec in training_options()}
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
    preset = given.get("preset") or ""
    if preset and preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; expected one of {', '.join(PRESETS)}.")
    base = dict(PRESETS[preset].settings) if preset else {}
    return TrainConfig(data=str(data), out=str(out), **{**base, **given})


# --- command line --------------------------------------------------------------------------


def add_training_arguments(parser: argparse.ArgumentParser, with_out: bool = True) -> None:
    """The training options as command-line flags, for ``python -m ml.train`` and ``manage.py train``.

    A flag left out is absent from the parsed options (not set to its default),
    so a preset can fill it in; the default is in its help.
    """
    parser.add_argument("--data", required=True,
                        help="folder with one sub-folder of images per class, pre-split train/val/test folders, "
                             "a .zip of either, or s3://bucket/prefix (or s3://bucket/file.zip)")
    if with_out:
        parser.add_argument("--out", required=True, help="bundle folder to write")
    for spec in training_options():
        flag = "--" + spec.name.replace("_", "-")
        shown = f"{spec.help} (default: {spec.default!r})"
        if spec.type is bool:
            negated = "--no-" + spec.name.replace("_", "-")
            parser.add_argument(negated if spec.default else flag, dest=spec.name, default=argparse.SUPPRESS,
                                action="store_false" if spec.default else "store_true", help=shown)
            continue
        parser.add_argument(flag, dest=spec.name, type=spec.type, default=argparse.SUPPRESS, help=shown,
                            choices=[choice for choice in spec.choices] if spec.choices else None)
    parser.epilog = presets_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def presets_help() -> str:
    lines = ["presets (--preset NAME; options given on the command line win):"]
    for name, preset in PRESETS.items():
        lines.append(f"  {name}: {preset.title}")
        lines.append("      " + " ".join(f"--{key.replace('_', '-')} {value}" for key, value in preset.settings.items()))
    return "\n".join(lines)


def config_from_options(options: Mapping[str, Any]) -> TrainConfig:
    """A TrainConfig from parsed options (extra keys, such as a command's own, are ignored)."""
    known = {spec.name for spec in training_options()}
    return resolve_config(options["data"], options.get("out", ""), {k: v for k, v in options.items() if k in known})


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description="Train an image classifier into a model bundle.")
    add_training_arguments(parser)
    return config_from_options(vars(parser.parse_args(argv)))
