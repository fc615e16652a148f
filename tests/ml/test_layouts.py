"""Dataset layouts: class folders, pre-split folders used as given, zips; ambiguous ones refused."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ml.config import TrainConfig
from ml.datasets import DatasetError
from ml.layouts import dataset_root, read_layout
from ml.train import train
from tests.ml.fakes import make_dataset


def pre_split(root: Path, counts=(("train", 10), ("val", 3), ("test", 4)), classes=("blue", "red")) -> Path:
    for seed, (part, count) in enumerate(counts):
        make_dataset(root / part, classes=classes, per_class=count, size=16, seed=seed)
    return root


def zipped(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def test_class_folders_are_split_by_training(tmp_path):
    folder, given = read_layout(make_dataset(tmp_path / "data", per_class=5, size=8))
    assert folder.class_names == ["blue", "red"] and len(folder.files) == 10 and given is None


def test_pre_split_folders_are_used_as_given_not_read_as_classes(tmp_path):
    folder, given = read_layout(pre_split(tmp_path / "data"))
    assert folder.class_names == ["blue", "red"]  # not "test, train, val"
    parts = {name: [folder.files[i].relative_to(tmp_path / "data").parts[0] for i in getattr(given, name)]
             for name in ("train", "val", "test")}
    assert {name: set(values) for name, values in parts.items()} == {"train": {"train"}, "val": {"val"}, "test": {"test"}}
    assert [len(values) for values in parts.values()] == [20, 6, 8]


def test_training_keeps_the_given_split_and_carves_a_missing_val_from_train(tmp_path):
    data = pre_split(tmp_path / "data", counts=(("train", 10), ("test", 4)))
    config = TrainConfig(data=str(data), out=str(tmp_path / "bundle"), arch="basic_cnn", img_size=16, epochs=1,
                         batch_size=8, val_split=0.2)
    result = train(config, progress=None)
    assert result.counts["test"] == {"blue": 4, "red": 4}  # exactly the test folder
    assert result.counts["val"] == {"blue": 2, "red": 2} and result.counts["train"] == {"blue": 8, "red": 8}


def test_a_zip_of_pre_split_folders_under_one_top_folder_is_read_like_the_folder(tmp_path):
    data = pre_split(tmp_path / "data")
    archive = zipped(data, tmp_path / "old-project.zip", prefix="dataset/")
    with dataset_root(archive) as root:
        folder, given = read_layout(root)
        assert folder.class_names == ["blue", "red"] and len(given.test) == 8
        unpacked = root
    assert not unpacked.exists()  # the unpacked copy goes away with the block


@pytest.mark.parametrize("arrange, message", [
    (lambda root: (pre_split(root), make_dataset(root / "cats", classes=("blue",), per_class=1)),
     r"holds split folders \(test, train, val\) beside other folders \(cats\)"),
    (lambda root: (pre_split(root, counts=(("train", 2),)), make_dataset(root / "val", classes=("blue", "green"), per_class=1)),
     r"val/ holds the classes blue, green but train/ holds blue, red"),
    (lambda root: pre_split(root, counts=(("val", 2), ("test", 2))), r"no train/ folder"),
    (lambda root: [pre_split(root / name, classes=("blue", "red")) for name in ("human", "no_human")],
     r"each hold train/val/test folders"),
])
def test_an_ambiguous_layout_is_refused_saying_what_was_found(tmp_path, arrange, message):
    arrange(tmp_path / "data")
    with pytest.raises(DatasetError, match=message):
        read_layout(tmp_path / "data")


def test_a_zip_that_would_write_outside_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("train/blue/../../../../escaped.png", b"x")
    with pytest.raises(DatasetError, match="would land outside its folder"):
        with dataset_root(archive):
            pass
    assert not (tmp_path.parent / "escaped.png").exists()


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    (tmp_path / "data.tar").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a zip archive"):
        with dataset_root(tmp_path / "data.tar"):
            pass


def test_sources_are_the_sub_folders_under_each_class(tmp_path):
    for camera in ("camera_a", "camera_b"):
        scratch = make_dataset(tmp_path / camera, classes=("blue",), per_class=2, size=8)
        (tmp_path / "data" / "blue").mkdir(parents=True, exist_ok=True)
        shutil.move(str(scratch / "blue"), str(tmp_path / "data" / "blue" / camera))
    make_dataset(tmp_path / "data", classes=("red",), per_class=2, size=8)
    folder, _ = read_layout(tmp_path / "data")
    assert sorted(set(np.array(folder.sources)[folder.labels == 0])) == ["camera_a", "camera_b"]
    assert set(np.array(folder.sources)[folder.labels == 1]) == {""}
