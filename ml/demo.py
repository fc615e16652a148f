"""Rebuild the committed demo model from the shared photos, in minutes on a CPU.

    python -m ml.demo --shared ../shared --out ml/demo_model

Steps: lay out ``shared/datasets`` plus synthesised uber_eats images as a
class-folder dataset under ``var/datasets/demo`` (reused when unchanged), train
MobileNetV2 from the shared ImageNet weights with all but its top block frozen
(the feature-cache fast path of :mod:`ml.train`), evaluate the bundle on
``shared/samples`` (never trained on), and write metrics, reports and a README
into the bundle folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from ml.bundle import write_metadata
from ml.datasets import build_demo_dataset
from ml.synth import VERSION as SYNTH_VERSION
from ml.evaluate import evaluate_bundle
from ml.reports import classification_report_text, write_evaluation_reports, write_json
from ml.config import TrainConfig
from ml.train import print_progress, train

REPO_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_FILE = "mobilenet_v2_1.0_imagenet_notop.weights.h5"
COMMAND = "python -m ml.demo --shared ../shared --out ml/demo_model"

DESCRIPTION = (
    "Demo model: MobileNetV2 (width 1.0) initialised from the ImageNet weights in "
    "shared/weights ({weights}), top block fine-tuned and head trained on shared/datasets "
    "(human and no_human photos listed in index.csv) plus {synth} uber_eats images "
    "synthesised from the four logos in shared/datasets/uber_eats_logos (ml/synth.py version {synth_version}, "
    "seed {seed}: bags, courier cube backpacks, bicycles with a backpack, signs), classes and source "
    "collections weighted evenly. "
    "Never trained on shared/samples, which is only used to report samples_accuracy. "
    "Rebuild with: {command}"
)


def demo_config(shared: Path, data: Path, out: Path, seed: int, synth: int) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        out=str(out),
        arch="mobilenet_v2",
        weights=str(shared / "weights" / WEIGHTS_FILE),
        # The last inverted-residual block and the 1x1 conv above it (11 layers) learn;
        # below them features are cached, which keeps training to minutes on a CPU.
        fine_tune=11,
        img_size=224,
        epochs=30,
        patience=4,
        batch_size=32,
        learning_rate=1e-4,
        seed=seed,
        val_split=0.15,
        test_split=0.15,
        feature_rounds=3,
        # Each class weighs a third of the loss, shared equally by its source collections:
        # most surveillance stills show people, which must not make "a wide scene" mean human.
        class_balance="sources",
        name="demo-mobilenet_v2",
        description=DESCRIPTION.format(weights=WEIGHTS_FILE, synth=synth, seed=seed, command=COMMAND,
                                       synth_version=SYNTH_VERSION),
    )


def build_demo(shared: Path, out: Path, cache: Path, seed: int = 0, synth: int = 800) -> dict:
    started = time.perf_counter()
    shared = shared.resolve()
    print(f"[dataset] building {cache}", flush=True)
    data = build_demo_dataset(shared / "datasets", cache, uber_eats_count=synth, seed=seed)
    if (out / "metadata.json").is_file():
        shutil.rmtree(out)  # a previous bundle: no stale report may survive into this one
    result = train(demo_config(shared, data, out, seed, synth), progress=print_progress)

    print("[samples] evaluating on shared/samples/labels.csv", flush=True)
    samples = evaluate_bundle(out, shared / "samples" / "labels.csv")
    write_evaluation_reports(out, samples.metrics, "samples", samples.mistakes())
    metadata = result.metadata
    metadata.metrics["samples_accuracy"] = samples.metrics["accuracy"]
    metadata.metrics["samples_macro_f1"] = samples.metrics["macro_f1"]
    write_metadata(metadata, out)

    wall = time.perf_counter() - started
    summary = {
        "command": COMMAND,
        "wall_seconds_total": round(wall, 1),
        "wall_seconds_training": round(result.wall_seconds, 1),
        "test_accuracy": result.test_metrics["accuracy"],
        "samples_accuracy": samples.metrics["accuracy"],
        "counts": result.counts,
    }
    write_json(out / "demo_summary.json", summary)
    _write_readme(out, metadata, result, samples, wall)
    print(classification_report_text(samples.metrics))
    print(f"[done] test accuracy {summary['test_accuracy']}, samples accuracy "
          f"{summary['samples_accuracy']}, {wall:.0f}s", flush=True)
    return summary


def _write_readme(out: Path, metadata, result, samples, wall: float) -> None:
    counts = "\n".join(
        f"| {part} | " + " | ".join(str(result.counts[part][c]) for c in metadata.class_names) + " |"
        for part in ("train", "val", "test")
    )
    text = f"""# Demo model

{metadata.description}

## Rebuild

From the project root, with `../shared` holding the shared datasets and weights:

    {COMMAND}

Last run: {wall / 60:.1f} minutes wall time on a 2-core CPU (training step {result.wall_seconds:.0f} s).
The dataset cache goes to `var/datasets/demo` (git-ignored; real photos are linked, not copied).

## Results

| metric | value |
|---|---|
| held-out test accuracy ({result.test_metrics['count']} images from the same distribution) | {result.test_metrics['accuracy']:.3f} |
| held-out test macro F1 | {result.test_metrics['macro_f1']:.3f} |
| accuracy on shared/samples ({samples.metrics['count']} real photos, never trained on) | {samples.metrics['accuracy']:.3f} |

The held-out test set contains synthesised uber_eats images like the training
ones, so it overstates accuracy on real Uber Eats photos; shared/samples is
the honest check, but with 16 photos each one moves accuracy by 0.06.

Samples (rows: true, columns: predicted, order {', '.join(metadata.class_names)}):

```
{classification_report_text(samples.metrics)}```

Images per class and split:

| split | {' | '.join(metadata.class_names)} |
|---|{'---|' * len(metadata.class_names)}
{counts}

## Files

- `model.keras`, `metadata.json`: the bundle (`ml.predictor.Predictor.from_bundle`).
- `training_curves.png`, `training_report.json`: accuracy/loss per epoch, full config, counts, wall time.
- `test_*`, `samples_*`: confusion matrices (counts and normalised) and classification reports.
- `demo_summary.json`: the numbers above.
"""
    (out / "README.md").write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the demo model bundle.")
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared",
                        help="the shared folder with datasets/, samples/ and weights/")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "ml" / "demo_model")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "var" / "datasets" / "demo",
                        help="where the class-folder dataset is laid out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synth", type=int, default=800, help="synthesised uber_eats images")
    args = parser.parse_args(argv)
    build_demo(args.shared, args.out, args.cache, args.seed, args.synth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
