"""Class-folder datasets: clear errors for unusable layouts, deterministic stratified splits."""

from __future__ import annotations

import numpy as np
import pytest

from ml.datasets import (
    DatasetError,
    load_pixels,
    read_labels_csv,
    scan_image_folder,
    stratified_split,
)
from ml.demo_data import build_demo_dataset
from ml.layouts import read_layout
from tests.ml.fakes import make_dataset


def test_scan_lists_classes_in_sorted_order(tiny_dataset):
    (tiny_dataset / "red" / "notes.txt").write_text("not an image")  # ignored by extension
    folder = scan_image_folder(tiny_dataset)
    assert folder.class_names == ["blue", "red"]
    assert folder.counts() == {"blue": 12, "red": 12}
    assert all(folder.class_names[label] == path.parent.name for path, label in zip(folder.files, folder.labels))


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_image_folder(tmp_path / "nowhere")


def test_a_single_class_is_a_clear_error(tmp_path):
    make_dataset(tmp_path, classes=("red",), per_class=3)
    with pytest.raises(DatasetError, match="at least two class sub-folders.*found red"):
        scan_image_folder(tmp_path)


def test_an_empty_class_is_named(tmp_path):
    make_dataset(tmp_path, classes=("red", "blue"), per_class=3)
    (tmp_path / "green").mkdir()
    with pytest.raises(DatasetError, match="'green'.*no images"):
        scan_image_folder(tmp_path)


def test_an_unreadable_image_is_skipped_with_a_warning(tiny_dataset):
    broken = tiny_dataset / "red" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    folder = scan_image_folder(tiny_dataset)
    with pytest.warns(UserWarning, match="broken.jpg"):
        pixels, kept = load_pixels(folder.files, 16)
    assert len(kept) == len(folder.files) - 1
    assert folder.files.index(broken) not in kept
    assert pixels.shape == (len(kept), 16, 16, 3) and pixels.dtype == np.uint8


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.array([0] * 40 + [1] * 20 + [2] * 5)
    split = stratified_split(labels, val_split=0.2, test_split=0.2, seed=3)
    parts = [split.train, split.val, split.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    assert [np.bincount(labels[split.test], minlength=3).tolist()] == [[8, 4, 1]]
    assert np.bincount(labels[split.val], minlength=3).tolist() == [8, 4, 1]
    again = stratified_split(labels, 0.2, 0.2, seed=3)
    other = stratified_split(labels, 0.2, 0.2, seed=4)
    assert np.array_equal(again.test, split.test)
    assert not np.array_equal(other.test, split.test)


def test_split_fractions_are_checked():
    with pytest.raises(DatasetError, match="sum below 1"):
        stratified_split(np.array([0, 1]), 0.5, 0.5, seed=0)


def test_labels_csv_needs_file_and_label_columns(tmp_path):
    (tmp_path / "bad.csv").write_text("name,class\na.png,red\n")
    with pytest.raises(DatasetError, match="'file' and 'label'"):
        read_labels_csv(tmp_path / "bad.csv")
    (tmp_path / "good.csv").write_text("file,label\na.png,red\n")
    files, labels = read_labels_csv(tmp_path / "good.csv")
    assert files == [tmp_path / "a.png"] and labels == ["red"]


def _shared_datasets(tmp_path, per_class=4):
    source = tmp_path / "datasets"
    make_dataset(source / "photos", classes=("red", "blue"), per_class=per_class, size=40)
    rows = [f"photos/{colour}/{colour}_{i:03d}.png,{label},x"
            for colour, label in (("red", "human"), ("blue", "no_human")) for i in range(per_class)]
    (source / "index.csv").write_text("file,label,source_file\n" + "\n".join(rows) + "\n")
    (source / "uber_eats_logos").mkdir()
    make_dataset(tmp_path / "logo", classes=("green",), per_class=1, size=30)
    (tmp_path / "logo" / "green" / "green_000.png").rename(source / "uber_eats_logos" / "logo.png")
    return source


def test_demo_dataset_is_split_per_photo_folder_and_synthesises_uber_eats(tmp_path):
    source = _shared_datasets(tmp_path, per_class=10)

    out = build_demo_dataset(source, tmp_path / "demo", uber_eats_count=20, seed=1)
    folder, split = read_layout(out)
    assert folder.counts() == {"human": 10, "no_human": 10, "uber_eats": 20}
    # Each photo folder on its own: 15 % of 10 photos (2, rounded) to test and to validation.
    for part, expected in (("train", {"human": 6, "no_human": 6, "uber_eats": 14}),
                           ("val", {"human": 2, "no_human": 2, "uber_eats": 3}),
                           ("test", {"human": 2, "no_human": 2, "uber_eats": 3})):
        assert folder.counts(getattr(split, part)) == expected, part
    linked = sorted(out.glob("*/human/photos/red__red_*.png"))  # one sub-folder per collection
    assert len(linked) == 10 and all(path.is_symlink() or path.is_file() for path in linked)
    first = (out / "train" / "uber_eats" / "synth_00000.jpg").read_bytes()
    assert (out / "test" / "uber_eats" / "synth_00017.jpg").is_file()  # numbered on across the splits
    assert build_demo_dataset(source, out, uber_eats_count=20, seed=1) == out  # reused as is
    assert (out / "train" / "uber_eats" / "synth_00000.jpg").read_bytes() == first
    # Another seed holds out other photos.
    other = build_demo_dataset(source, tmp_path / "other", uber_eats_count=3, seed=2)
    assert sorted(p.name for p in (other / "test").rglob("*.png")) != sorted(p.name for p in (out / "test").rglob("*.png"))


def test_demo_dataset_relabels_listed_photos_without_moving_them_between_splits(tmp_path):
    source = _shared_datasets(tmp_path)
    plain = build_demo_dataset(source, tmp_path / "plain", uber_eats_count=1, seed=0)
    part = next(p.parts[-4] for p in plain.rglob("blue__blue_002.png"))
    relabel = tmp_path / "relabel.csv"
    relabel.write_text("# a person in the corner\nfile,label,why\nphotos/blue/blue_002.png,human,person\n")

    out = build_demo_dataset(source, tmp_path / "fixed", uber_eats_count=1, seed=0, relabel=relabel)
    assert [p.relative_to(out).parts[:2] for p in out.rglob("blue__blue_002.png")] == [(part, "human")]
    built = (out / "manifest.json").stat().st_mtime_ns
    assert build_demo_dataset(source, out, uber_eats_count=1, seed=0, relabel=relabel) == out
    assert (out / "manifest.json").stat().st_mtime_ns == built  # reused, not rebuilt

    relabel.write_text("file,label\nphotos/blue/nope.png,human\n")
    with pytest.raises(DatasetError, match="not in"):
        build_demo_dataset(source, tmp_path / "bad", uber_eats_count=1, seed=0, relabel=relabel)
    relabel.write_text("file,label\nphotos/blue/blue_002.png,cat\n")
    with pytest.raises(DatasetError, match="unexpected labels cat"):
        build_demo_dataset(source, tmp_path / "bad", uber_eats_count=1, seed=0, relabel=relabel)
