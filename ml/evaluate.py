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
from ml.metrics import classification_metrics
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
