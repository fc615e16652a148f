"""Training options are declared once (ml.config.TrainConfig); every interface offers exactly them."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from django.core.management import load_command_class

from classification.admin.training_runs import TrainingRunForm
from ml.config import TrainConfig, add_training_arguments, training_options


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions if action.dest not in ("help", "data", "out")}


def _ml_train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return parser


def _manage_py_train_parser() -> argparse.ArgumentParser:
    return load_command_class("classification", "train").create_parser("manage.py", "train")


def test_the_declaration_covers_every_config_field():
    declared = {spec.name for spec in training_options()}
    assert declared == {field.name for field in dataclasses.fields(TrainConfig)} - {"data", "out"}
    defaults = TrainConfig(data="d", out="o")
    for spec in training_options():
        if spec.default is not None and spec.name != "weights":  # weights "default" resolves per architecture
            assert getattr(defaults, spec.name) == spec.default, spec.name


@pytest.mark.parametrize("parser", [_ml_train_parser, _manage_py_train_parser], ids=["ml.train", "manage.py train"])
def test_command_lines_offer_every_option_with_its_default_choices_and_help(parser):
    flags = _flags(parser())
    for spec in training_options():
        action = flags[spec.name]
        assert action.default == argparse.SUPPRESS, spec.name  # left out: the preset or the default fills it in
        assert action.help == f"{spec.help} (default: {spec.default!r})", spec.name
        assert (list(action.choices) if action.choices else None) == (list(spec.choices) if spec.choices else None)
        if spec.type is not bool:
            assert action.type is spec.type, spec.name


def test_the_admin_form_offers_every_option_with_its_default_bounds_and_choices():
    form = TrainingRunForm()
    for spec in training_options():
        field = form.fields[spec.name]
        assert not field.required, spec.name  # blank: the preset's value, else the default
        assert field.help_text == f"{spec.help}. Blank: the preset's value, else {spec.default!r}.", spec.name
        if spec.choices:
            assert {k: v for k, v in field.choices if k} == {k: v for k, v in spec.choices.items() if k}, spec.name
        if spec.minimum is not None:
            assert getattr(field, "min_value", None) == spec.minimum, spec.name
        if spec.maximum is not None:
            assert getattr(field, "max_value", None) == spec.maximum, spec.name
    assert set(form.fields) == {"data", *(spec.name for spec in training_options())}


def test_bounds_are_enforced_wherever_a_config_is_made():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainConfig(data="d", out="o", epochs=0)
    with pytest.raises(ValueError, match="Unknown architecture 'resnet1000'"):
        TrainConfig(data="d", out="o", arch="resnet1000")
    with pytest.raises(ValueError, match="sum below 1"):
        TrainConfig(data="d", out="o", val_split=0.5, test_split=0.5)
