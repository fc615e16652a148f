"""Rebuild the committed demo model from the shared photos, on a CPU.

    python -m ml.demo --shared ../shared --out ml/demo_model

Steps: lay out ``shared/datasets`` plus synthesised uber_eats images as
pre-split train/val/test folders under ``var/datasets/demo`` (reused when
unchanged; every photo folder is split on its own, seeded, see
:func:`ml.demo_data.build_demo_dataset`), train MobileNetV2 from the shared
ImageNet weights with all but its top layers frozen (the feature-cache fast
path of :mod:`ml.train`), evaluate the held-out test split per source and the
bundle on ``shared/samples`` (never trained on), and write metrics, reports
and a README into the bundle folder.

The defaults are the recipe of the committed model; each was kept because the
validation split said so (``bench/demo_experiments.py``, README "The demo
model").
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ml.bundle import VALIDATION_FILENAME, write_metadata
from ml.config import TrainConfig
from ml.demo_data import DEMO_TEST_SPLIT, build_demo_dataset
from ml.demo_report import LOSO_FILE, per_source, write_readme
from ml.evaluate import evaluate_bundle
from ml.reports import classification_report_text, write_evaluation_reports, write_json
from ml.synth import VERSION as SYNTH_VERSION
from ml.train import print_progress, train

REPO_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_FILE = "mobilenet_v2_1.0_imagenet_notop.weights.h5"
COMMAND = "python -m ml.demo --shared ../shared --out ml/demo_model"
#: Photos of index.csv whose label is wrong, checked by eye (see the file's header).
RELABEL_FILE = REPO_ROOT / "ml" / "demo_relabel.csv"


@dataclass
class Recipe:
    """The demo model's recipe: what ``python -m ml.demo`` trains with no options."""

    seed: int = 1
    synth: int = 800  # synthesised uber_eats images
    decoys: int = 0  # logo-less decoy scenes, labelled no_human
    synth_light: bool = True  # vary light, colour and motion blur on the synthesised images (ml.synth version 3)
    relabel: bool = True  # apply RELABEL_FILE
    img_size: int = 320
    fine_tune: int = 11
    epochs: int = 30
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    feature_rounds: int = 3


def describe(recipe: Recipe) -> str:
    top = {11: "its last inverted-residual block and the 1x1 convolution above it",
           20: "its last two inverted-residual blocks and the 1x1 convolution above them",
           29: "its last three inverted-residual blocks and the 1x1 convolution above them"}.get(
        recipe.fine_tune, f"its top {recipe.fine_tune} layers")
    relabelled = (f", {_relabel_count()} no_human stills that show a person relabelled human (ml/demo_relabel.csv)"
                  if recipe.relabel else "")
    light = ", varied light and blur" if recipe.synth_light else "; no light or blur drawn on them alone"
    decoys = (f", plus {recipe.decoys} no_human decoys (the same scenes without any logo)" if recipe.decoys else "")
    return (
        f"Demo model: MobileNetV2 (width 1.0, {recipe.img_size} px) initialised from the ImageNet weights in "
        f"shared/weights ({WEIGHTS_FILE}), {top} fine-tuned ({recipe.epochs} epochs at most, learning rate "
        f"{recipe.learning_rate:g}, {recipe.lr_schedule}) with the head, on shared/datasets (the human and "
        f"no_human photos of index.csv{relabelled}) plus {recipe.synth} uber_eats images synthesised from the four "
        f"logos in shared/datasets/uber_eats_logos (ml/synth.py version {SYNTH_VERSION}: bags, courier backpacks, "
        f"bikes and riders, the logo worn by the people of the photos{light}){decoys}, classes and "
        f"source collections weighted evenly, seed {recipe.seed}. Held out: {DEMO_TEST_SPLIT:.0%} of every photo "
        f"folder of index.csv (seeded), and uber_eats images drawn over those photos only. Never trained on "
        f"shared/samples, which is only used to report samples_accuracy. Rebuild with: {COMMAND}"
    )


def _relabel_count() -> int:
    from ml.demo_data import read_relabel

    return len(read_relabel(RELABEL_FILE)[0])


def demo_config(shared: Path, data: Path, out: Path, recipe: Recipe) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        out=str(out),
        arch="mobilenet_v2",
        weights=str(shared / "weights" / WEIGHTS_FILE),
        # The top layers learn; below them features are cached, which keeps training to minutes on a CPU.
        fine_tune=recipe.fine_tune,
        img_size=recipe.img_size,
        epochs=recipe.epochs,
        patience=4,
        batch_size=32,
        learning_rate=recipe.learning_rate,
        lr_schedule=recipe.lr_schedule,
        seed=recipe.seed,
        feature_rounds=recipe.feature_rounds,
        # Each class weighs a third of the loss, shared equally by its source collections:
        # most surveillance stills show people, which must not make "a wide scene" mean human.
        class_balance="sources",
        name="demo-mobilenet_v2",
        description=describe(recipe),
    )


def build_demo(shared: Path, out: Path, cache: Path, recipe: Recipe | None = None) -> dict:
    recipe = recipe or Recipe()
    started = time.perf_counter()
    shared = shared.resolve()
    print(f"[dataset] building {cache}", flush=True)
    data = build_demo_dataset(shared / "datasets", cache, uber_eats_count=recipe.synth, seed=recipe.seed,
                              relabel=RELABEL_FILE if recipe.relabel else None, decoys=recipe.decoys,
                              synth_options=None if recipe.synth_light else {"lighting": False})
    kept = _clear(out)
    result = train(demo_config(shared, data, out, recipe), progress=print_progress)
    # The validation pixels (tens of MB) would bloat the repository; int8 needs them, so the demo is served in float.
    (out / VALIDATION_FILENAME).unlink(missing_ok=True)
    for name, text in kept.items():
        (out / name).write_text(text)

    print("[held out] the test split, per source", flush=True)
    held_out = per_source(out, data, shared / "datasets")
    print("[samples] evaluating on shared/samples/labels.csv", flush=True)
    samples = evaluate_bundle(out, shared / "samples" / "labels.csv")
    write_evaluation_reports(out, samples.metrics, "samples", samples.mistakes())
    metadata = result.metadata
    metadata.metrics["samples_accuracy"] = samples.metrics["accuracy"]
    metadata.metrics["samples_macro_f1"] = samples.metrics["macro_f1"]
    metadata.metrics["test_human_detection_person_recall"] = held_out["human_detection person recall"]
    write_metadata(metadata, out)

    wall = time.perf_counter() - started
    summary = {
        "command": COMMAND,
        "recipe": dataclasses.asdict(recipe),
        "wall_seconds_total": round(wall, 1),
        "wall_seconds_training": round(result.wall_seconds, 1),
        "test_accuracy": result.test_metrics["accuracy"],
        "test_ece": metadata.metrics.get("test_ece"),
        "test_ece_uncalibrated": metadata.metrics.get("test_ece_uncalibrated"),
        "temperature": metadata.temperature,
        "held_out": held_out,
        "samples_accuracy": samples.metrics["accuracy"],
        "samples_mistakes": samples.mistakes(),
        "counts": result.counts,
    }
    write_json(out / "demo_summary.json", summary)
    write_readme(out, metadata, result, samples, held_out, recipe, wall, COMMAND)
    print(classification_report_text(samples.metrics))
    print(f"[done] test accuracy {summary['test_accuracy']}, human_detection person recall "
          f"{held_out['human_detection person recall']}, samples accuracy {summary['samples_accuracy']}, "
          f"{wall:.0f}s", flush=True)
    return summary


def _clear(out: Path) -> dict[str, str]:
    """Remove a previous bundle (no stale report may survive into this one), keeping what another script wrote."""
    kept = {}
    if (out / "metadata.json").is_file():
        if (out / LOSO_FILE).is_file():
            kept[LOSO_FILE] = (out / LOSO_FILE).read_text()
        shutil.rmtree(out)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Recipe()
    parser = argparse.ArgumentParser(description="Rebuild the demo model bundle (the defaults are its recipe).")
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared",
                        help="the shared folder with datasets/, samples/ and weights/")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "ml" / "demo_model")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "var" / "datasets" / "demo",
                        help="where the dataset is laid out")
    for spec in dataclasses.fields(Recipe):
        flag = "--" + spec.name.replace("_", "-")
        if spec.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=spec.default,
                                help=f"(default: {spec.default})")
        else:
            kind = type(getattr(defaults, spec.name))
            parser.add_argument(flag, type=kind, default=spec.default, help=f"(default: {spec.default})")
    args = parser.parse_args(argv)
    recipe = Recipe(**{spec.name: getattr(args, spec.name) for spec in dataclasses.fields(Recipe)})
    build_demo(args.shared, args.out, args.cache, recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
