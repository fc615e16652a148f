"""The demo model's held-out report: per source, person recall in the surveillance stills, index.csv's labels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ml import demo_report
from ml.demo_data import build_demo_dataset
from ml.layouts import read_layout
from tests.ml.fakes import make_dataset


def _shared_datasets(tmp_path):
    """Two collections as index.csv names them: surveillance stills and close-ups, 10 photos a folder."""
    source = tmp_path / "datasets"
    rows = []
    for collection, folders in (("human_detection", (("human", "red", "human"), ("no_human", "blue", "no_human"))),
                                ("natural_images", (("person", "red", "human"), ("cat", "blue", "no_human")))):
        for folder, colour, label in folders:
            make_dataset(tmp_path / "made" / collection / folder, classes=(colour,), per_class=10, size=20)
            (source / collection).mkdir(parents=True, exist_ok=True)
            (tmp_path / "made" / collection / folder / colour).rename(source / collection / folder)
            rows += [f"{collection}/{folder}/{colour}_{i:03d}.png,{label},x" for i in range(10)]
    (source / "index.csv").write_text("file,label,source_file\n" + "\n".join(rows) + "\n")
    (source / "uber_eats_logos").mkdir()
    make_dataset(tmp_path / "logo", classes=("green",), per_class=1, size=30)
    (tmp_path / "logo" / "green" / "green_000.png").rename(source / "uber_eats_logos" / "logo.png")
    return source


class AlwaysHuman:
    """A predictor that answers human for everything, so every figure of the report is known in advance."""

    class_names = ["human", "no_human", "uber_eats"]
    metadata = SimpleNamespace(input_size=20, preprocessing="rescale")

    def predict_array(self, batch):
        return np.tile([0.8, 0.1, 0.1], (len(batch), 1))


def test_held_out_report_counts_each_source_and_the_labels_before_relabelling(tmp_path, monkeypatch):
    source = _shared_datasets(tmp_path)
    plain = build_demo_dataset(source, tmp_path / "plain", uber_eats_count=20, seed=0)
    still = next((plain / "test" / "no_human" / "human_detection").iterdir()).name  # a held-out one
    relabelled = still.split("__")[-1]  # linked as <folder>__<file>
    relabel = tmp_path / "relabel.csv"
    relabel.write_text(f"file,label\nhuman_detection/no_human/{relabelled},human\n")
    data = build_demo_dataset(source, tmp_path / "demo", uber_eats_count=20, seed=0, relabel=relabel)
    monkeypatch.setattr("ml.predictor.Predictor.from_bundle", lambda bundle: AlwaysHuman())

    report = demo_report.per_source(tmp_path / "bundle", data, source)

    folder, split = read_layout(data)
    assert report["test images"] == len(split.test) == 2 * 4 + 3  # 2 of each photo folder, 15 % of 20 drawn
    # human_detection: 2 persons + the relabelled still among 4; natural_images: 2 of 4; no synthesised one.
    assert report["human_detection accuracy"] == 0.75 and report["human_detection persons"] == 3
    assert report["natural_images accuracy"] == 0.5 and report["synthesised accuracy"] == 0.0
    assert report["human_detection person recall"] == 1.0
    assert report["accuracy"] == round(5 / 11, 4)
    assert report["accuracy against index.csv labels"] == round(4 / 11, 4)  # the relabelled one was no_human
    assert len(report["mistakes"]) == 6
