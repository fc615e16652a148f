"""Fixtures for the ml tests. Nothing here imports Django: ml must run without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ml.fakes import make_dataset, shared_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"shared folder {path} is absent (set SHARED_DIR to run this test)")
    return path


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")
