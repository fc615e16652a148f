"""Class-folder datasets: clear errors for unusable layouts, deterministic stratified splits."""

from __future__ import annotations

import numpy as np
import pytest

from ml.datasets import (
    DatasetError,
    build_demo_dataset,
    load_pixels,
    read_labels_csv,
    scan_image_folder,
    stratified_split,
)
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


def test_demo_dataset_links_photos_and_synthesises_uber_eats(tmp_path):
    source = tmp_path / "datasets"
    make_dataset(source / "photos", classes=("red", "blue"), per_class=2, size=40)
    (source / "index.csv").write_text(
        "file,label,source_file\n"
        "photos/red/red_000.png,human,a\nphotos/red/red_001.png,human,b\n"
        "photos/blue/blue_000.png,no_human,c\nphotos/blue/blue_001.png,no_human,d\n"
    )
    (source / "uber_eats_logos").mkdir()
    make_dataset(tmp_path / "logo", classes=("green",), per_class=1, size=30)
    (tmp_path / "logo" / "green" / "green_000.png").rename(source / "uber_eats_logos" / "logo.png")

    out = build_demo_dataset(source, tmp_path / "demo", uber_eats_count=3, seed=1)
    folder = scan_image_folder(out)
    assert folder.counts() == {"human": 2, "no_human": 2, "uber_eats": 3}
    assert (out / "human" / "photos" / "red__red_000.png").is_file()  # one sub-folder per collection
    first = (out / "uber_eats" / "synth_00000.jpg").read_bytes()
    assert build_demo_dataset(source, out, uber_eats_count=3, seed=1) == out  # reused as is
    assert (out / "uber_eats" / "synth_00000.jpg").read_bytes() == first
