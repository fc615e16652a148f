"""Evaluating a model on labelled images, with labels kept aligned.

Images are read in a fixed order and predictions come back in that order, so
the i-th prediction is always compared with the i-th label. (A shuffling data
generator whose labels are read separately is how a good model ends up
reported at chance level.)

Usable as ``python -m ml.evaluate --bundle DIR --data FOLDER_OR_LABELS_CSV``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ml.datasets import DatasetError, load_pixels, read_labels_csv, scan_image_folder
from ml.preprocessing import scale_pixels


@dataclass
class Evaluation:
    """Per-image outcomes and the metrics computed from them."""

    class_names: list[str]
    files: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)

    def mistakes(self) -> list[dict[str, Any]]:
        return [
            {
                "file": self.files[i],
                "label": self.class_names[self.y_true[i]],
                "predicted": self.class_names[self.y_pred[i]],
                "confidence": round(float(self.confidence[i]), 4),
            }
            for i in np.flatnonzero(self.y_true != self.y_pred)
        ]


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion_matrix[i][j]`` counts images of class i predicted as class j.
    A class never predicted has precision 0 (not NaN), so reports stay JSON.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions.")
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        true_positive = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
    present = [m for m in per_class.values() if m["support"]]
    return {
        "accuracy": round(float((y_true == y_pred).mean()), 4) if len(y_true) else 0.0,
        "count": int(len(y_true)),
        "per_class": per_class,
        "macro_f1": round(float(np.mean([m["f1"] for m in present])), 4) if present else 0.0,
        "confusion_matrix": confusion.tolist(),
        "class_names": list(class_names),
    }


def predict_pixels(predictor: Any, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Class probabilities for uint8 pixels (N, S, S, 3), in order, scaled as serving scales."""
    mode = predictor.metadata.preprocessing
    rows = [
        predictor.predict_array(scale_pixels(pixels[start : start + batch_size].astype(np.float32), mode))
        for start in range(0, len(pixels), batch_size)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, len(predictor.class_names)))


def evaluate_predictor(
    predictor: Any, files: Sequence[Path], labels: Sequence[str], batch_size: int = 32
) -> Evaluation:
    """Classify ``files`` and compare with ``labels`` (class names), file by file."""
    class_names = predictor.class_names
    unknown = sorted(set(labels) - set(class_names))
    if unknown:
        raise DatasetError(
            f"Labels {', '.join(unknown)} are not classes of this model ({', '.join(class_names)})."
        )
    pixels, kept = load_pixels(list(files), predictor.metadata.input_size)
    y_true = np.array([class_names.index(labels[i]) for i in kept], dtype=np.int64)
    probabilities = predict_pixels(predictor, pixels, batch_size)
    y_pred = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=np.int64)
    return Evaluation(
        class_names=list(class_names),
        files=[str(files[i]) for i in kept],
        y_true=y_true,
        y_pred=y_pred,
        confidence=probabilities.max(axis=1) if len(probabilities) else np.zeros(0),
        metrics=classification_metrics(y_true, y_pred, class_names),
    )


def labelled_files(data: str | Path) -> tuple[list[Path], list[str]]:
    """Files and class names from a class-folder dataset or a ``file,label`` CSV."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return read_labels_csv(data)
    folder = scan_image_folder(data)
    return list(folder.files), [folder.class_names[i] for i in folder.labels]


def evaluate_bundle(bundle: str | Path, data: str | Path, batch_size: int = 32) -> Evaluation:
    """Evaluate a saved bundle on a labelled folder or a labels CSV."""
    from ml.predictor import Predictor

    files, labels = labelled_files(data)
    return evaluate_predictor(Predictor.from_bundle(bundle), files, labels, batch_size)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="bundle folder (model.keras + metadata.json)")
    parser.add_argument("--data", required=True, help="class-folder dataset or file,label CSV")
    parser.add_argument("--report-dir", help="write confusion matrices and reports here")
    parser.add_argument("--prefix", default="evaluation", help="file name prefix for the reports")
    args = parser.parse_args(argv)
    try:
        evaluation = evaluate_bundle(args.bundle, args.data)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ml.reports import classification_report_text, write_evaluation_reports

    print(classification_report_text(evaluation.metrics))
    if evaluation.mistakes():
        print(json.dumps(evaluation.mistakes(), indent=2))
    if args.report_dir:
        write_evaluation_reports(args.report_dir, evaluation.metrics, args.prefix, evaluation.mistakes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
