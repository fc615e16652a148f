"""Evaluation keeps each prediction next to its own label, and reports what it found."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ml.bundle import BundleMetadata, save_bundle
from ml.datasets import DatasetError
from ml.evaluate import evaluate_bundle, main
from ml.metrics import classification_metrics
from ml.reports import save_training_curves, write_evaluation_reports
from tests.ml.fakes import make_dataset


@pytest.fixture
def perfect_bundle(tmp_path):
    """A hand-set model that tells blue from red squares on grey, without training."""
    import keras

    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(pooled)
    model = keras.Model(inputs, outputs)
    # blue logit: 50·(B−R); red logit: 50·(R−B), on pixels scaled to 0..1.
    model.layers[-1].set_weights([np.array([[-50.0, 50.0], [0.0, 0.0], [50.0, -50.0]]), np.zeros(2)])
    metadata = BundleMetadata(name="perfect", architecture="hand-set", class_names=["blue", "red"],
                              input_size=16, preprocessing="rescale")
    return save_bundle(model, metadata, tmp_path / "bundle")


def test_a_perfect_model_scores_exactly_one_on_a_shuffled_folder(perfect_bundle, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=9, size=20, seed=4)
    # Names that interleave the classes, so file order is not class order.
    files = sorted(data.rglob("*.png"))
    random.Random(0).shuffle(files)
    for i, path in enumerate(files):
        path.rename(path.parent / f"{i:03d}.png")
    evaluation = evaluate_bundle(perfect_bundle, data)
    assert evaluation.metrics["accuracy"] == 1.0
    assert evaluation.metrics["confusion_matrix"] == [[9, 0], [0, 9]]
    assert evaluation.mistakes() == []


def test_a_shuffled_labels_csv_stays_aligned(perfect_bundle, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=7, size=20, seed=5)
    rows = [(p.relative_to(data).as_posix(), p.parent.name) for p in data.rglob("*.png")]
    random.Random(1).shuffle(rows)
    (data / "labels.csv").write_text("file,label\n" + "".join(f"{f},{label}\n" for f, label in rows))
    evaluation = evaluate_bundle(perfect_bundle, data / "labels.csv")
    assert evaluation.metrics["accuracy"] == 1.0
    assert [f.split("/")[-2] for f in evaluation.files] == [label for _, label in rows]


def test_wrong_labels_are_counted_as_mistakes(perfect_bundle, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=4, size=20, seed=6)
    rows = [(p.relative_to(data).as_posix(), "red") for p in sorted(data.rglob("*.png"))]
    (data / "labels.csv").write_text("file,label\n" + "".join(f"{f},{label}\n" for f, label in rows))
    evaluation = evaluate_bundle(perfect_bundle, data / "labels.csv")
    assert evaluation.metrics["accuracy"] == 0.5
    assert evaluation.metrics["confusion_matrix"] == [[0, 0], [4, 4]]
    assert {m["predicted"] for m in evaluation.mistakes()} == {"blue"}


def test_labels_the_model_does_not_know_are_refused(perfect_bundle, tmp_path):
    make_dataset(tmp_path / "data", classes=("red", "green"), per_class=2, size=20)
    with pytest.raises(DatasetError, match="green"):
        evaluate_bundle(perfect_bundle, tmp_path / "data")


def test_metrics_match_a_hand_count():
    metrics = classification_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["a", "b", "c"])
    assert metrics["accuracy"] == round(4 / 6, 4)
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert metrics["per_class"]["a"] == {"precision": 1.0, "recall": round(2 / 3, 4), "f1": 0.8, "support": 3}
    assert metrics["per_class"]["c"]["precision"] == 0.5


def test_reports_are_written(perfect_bundle, tmp_path, capsys):
    data = make_dataset(tmp_path / "data", per_class=3, size=20)
    assert main(["--bundle", str(perfect_bundle), "--data", str(data), "--report-dir", str(tmp_path / "r")]) == 0
    assert "accuracy" in capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "evaluation_report.json").read_text())
    assert report["accuracy"] == 1.0 and report["mistakes"] == []
    for name in ("evaluation_confusion.png", "evaluation_confusion_normalised.png", "evaluation_report.txt"):
        assert (tmp_path / "r" / name).stat().st_size > 0
    curves = save_training_curves({"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6], "loss": [1, 0.5],
                                   "val_loss": [1.1, 0.7]}, tmp_path / "curves.png")
    assert curves.read_bytes()[:4] == b"\x89PNG"
    written = write_evaluation_reports(tmp_path / "w", report, "x")
    assert all(path.is_file() for path in written)
