"""Active learning, proven: reviewing the least confident results teaches the next model more than random ones.

    .venv/bin/python -m bench.active_learning [--reviews 0,50,100,200] [--seeds 0,1,2] [--size 128] [--resume]

The photos of ../shared/datasets (plus the synthesised uber_eats class, as the
demo model uses them) are split, stratified and seeded, into a held-out test
set (20 %), a small labelled start set (10 %) and an unlabelled pool (the
rest). A starting model is trained on the start set. Every pool image is then
submitted and classified through the service's own code (intake, then the
worker's ``classify_stored_images`` with the starting model), so each row has a
calibrated confidence. For each N, a simulated reviewer corrects N rows
through the real review service, picked either as the review queue orders
them (least confident first) or at random; a new model is trained through the
real training path (a training run on the start set plus the reviewed images)
and its accuracy measured on the held-out test set. Everything runs in an
isolated copy of the service (SQLite, a temporary VAR_DIR; bench/stack.py).

Prints a table, writes bench/results/active_learning.json and the plot
bench/figures/active_learning.png (shown in the README).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO_DIR, RESULTS_DIR, SHARED_DIR, print_table, write_results

FIGURE = REPO_DIR / "bench" / "figures" / "active_learning.png"
WEIGHTS = SHARED_DIR / "weights" / "mobilenet_v2_1.0_imagenet_notop.weights.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", default="0,50,100,200", help="numbers of reviews to compare")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; each repeats the whole experiment")
    parser.add_argument("--size", type=int, default=128, help="input size of the models (speed)")
    parser.add_argument("--synth", type=int, default=400, help="synthesised uber_eats images in the data")
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds already in bench/results/active_learning.json (same reviews, size and "
                             "synthesis) and run only the others; results are written after every seed")
    args = parser.parse_args()
    if not (SHARED_DIR / "datasets" / "index.csv").is_file() or not WEIGHTS.is_file():
        raise SystemExit(f"needs {SHARED_DIR}/datasets and {WEIGHTS} (set SHARED_DIR)")
    counts = [int(n) for n in args.reviews.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) > 1:
        # Django is set up once per process, with the first stack's database: each seed gets a process.
        for index, seed in enumerate(seeds):
            resume = ["--resume"] if args.resume or index else []
            command = [sys.executable, "-m", "bench.active_learning", "--seeds", str(seed), "--reviews", args.reviews,
                       "--size", str(args.size), "--synth", str(args.synth), *resume]
            if subprocess.run(command, cwd=REPO_DIR).returncode:
                raise SystemExit(f"seed {seed} failed (above); the seeds before it are kept: rerun with --resume")
        return

    from ml.demo_data import build_demo_dataset
    from ml.layouts import read_layout

    data = build_demo_dataset(SHARED_DIR / "datasets", REPO_DIR / "var" / "datasets" / f"demo-al-{args.synth}",
                              uber_eats_count=args.synth, seed=0)
    folder, _ = read_layout(data)  # its own split below, over every image
    settings = {"reviews": counts, "size": args.size, "synth": args.synth}
    results = _earlier_results(settings) if args.resume else []
    with tempfile.TemporaryDirectory(prefix="active-learning-") as scratch:
        for seed in seeds:
            if any(row["seed"] == seed for row in results):
                continue
            parts = _split(folder, seed)
            start_bundle = _train_start_model(folder, parts["start"], Path(scratch) / f"start-{seed}", args.size, seed)
            results += _experiment(folder, parts, start_bundle, counts, args.size, seed, Path(scratch))
            # An hour of training per few seeds: what is done is written before the next seed starts.
            done = sorted({row["seed"] for row in results})
            table = _report(results, counts, done)
            write_results("active_learning", {**settings, "results": results, "seeds": done,
                                              "figure": str(FIGURE.relative_to(REPO_DIR))}, [table])


def _earlier_results(settings: dict) -> list[dict]:
    path = RESULTS_DIR / "active_learning.json"
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    if any(earlier.get(key) != value for key, value in settings.items()):
        raise SystemExit(f"{path} was made with other settings than {settings}; move it away or drop --resume")
    return earlier["results"]


def _split(folder, seed: int) -> dict[str, list[int]]:
    """Held-out test 20 %, start 10 %, pool the rest: per class, seeded."""
    from ml.datasets import stratified_split

    test_split = stratified_split(folder.labels, 0.0, 0.2, seed)
    rest = test_split.train
    start_of_rest = stratified_split(folder.labels[rest], 0.0, 0.125, seed + 1)  # 10 % of the whole
    return {"test": list(test_split.test), "start": list(rest[start_of_rest.test]), "pool": list(rest[start_of_rest.train])}


def _config(data: Path, out: Path, size: int, seed: int):
    from ml.config import TrainConfig

    return TrainConfig(data=str(data), out=str(out), arch="mobilenet_v2", weights=str(WEIGHTS), img_size=size,
                       epochs=40, patience=6, learning_rate=1e-3, feature_rounds=2, val_split=0.2, test_split=0.0,
                       seed=seed, class_balance="weights")


def _link_files(folder, indices, root: Path) -> Path:
    for index in indices:
        path = folder.files[index]
        target = root / folder.class_names[folder.labels[index]] / f"{index}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(path.resolve(), target)
    return root


def _train_start_model(folder, start, out: Path, size: int, seed: int) -> Path:
    from ml.train import train

    data = _link_files(folder, start, out.parent / f"{out.name}-data")
    return train(_config(data, out, size, seed), progress=None).bundle_dir


def _experiment(folder, parts, start_bundle: Path, counts, size: int, seed: int, scratch: Path) -> list[dict]:
    from bench.stack import Stack

    rows = []
    with Stack(bundle=start_bundle, database="sqlite"):
        from django.contrib.auth import get_user_model

        from classification.intake.submission import submit_image
        from classification.models import Classification
        from classification.registry import versions
        from classification.review import datasets, reviews
        from classification.serving.classify import classify_stored_images
        from classification.training import execution, runs
        from ml.evaluate import evaluate_predictor
        from ml.predictor import Predictor

        reviewer = get_user_model().objects.create_user("simulated-reviewer")
        version = versions.active_version()
        predictor = Predictor.from_bundle(start_bundle)
        truth = {}
        started = time.perf_counter()
        for index in parts["pool"]:
            row = submit_image(data=folder.files[index].read_bytes(), original_name=folder.files[index].name)
            truth[row.pk] = folder.class_names[folder.labels[index]]
        ids = list(truth)
        for start in range(0, len(ids), 32):  # the worker's own service, in micro-batches
            classify_stored_images(ids[start:start + 32], load_model=lambda: (predictor, version))
        print(f"[pool] {len(ids)} images classified by the starting model in {time.perf_counter() - started:.0f} s",
              flush=True)

        test_files = [folder.files[i] for i in parts["test"]]
        test_labels = [folder.class_names[folder.labels[i]] for i in parts["test"]]
        baseline = evaluate_predictor(predictor, test_files, test_labels).metrics["accuracy"]
        rng = random.Random(seed)
        for strategy in ("least confident", "random"):
            for count in counts:
                for row in reviews.reviewed():
                    reviews.clear_review(row)
                if count == 0:
                    rows.append({"seed": seed, "strategy": strategy, "reviews": 0, "accuracy": baseline})
                    continue
                if strategy == "least confident":
                    chosen = list(reviews.review_queue()[:count])  # the admin's review queue, as people use it
                else:
                    chosen = list(Classification.objects.filter(pk__in=rng.sample(ids, count)))
                for row in chosen:
                    reviews.review(row, label=truth[row.pk], user=reviewer)
                data = _link_files(folder, parts["start"], scratch / f"round-{seed}-{strategy[0]}-{count}")
                datasets.write_dataset_folder(data, reviews.reviewed())
                run = runs.create_run(data=str(data), settings=_config(data, Path(""), size, seed).settings())
                run = execution.run_training(run.pk)
                if run.status != "done":
                    raise SystemExit(f"training run {run.pk} failed: {run.error_message}")
                model = Predictor.from_files(_local(run.model_version), versions.metadata_of(run.model_version))
                accuracy = evaluate_predictor(model, test_files, test_labels).metrics["accuracy"]
                wrong = sum(1 for row in chosen if row.predicted_label != truth[row.pk])
                rows.append({"seed": seed, "strategy": strategy, "reviews": count, "accuracy": accuracy,
                             "corrections": wrong})
                print(f"[{strategy}] {count} reviews ({wrong} corrected a wrong label): test accuracy {accuracy}",
                      flush=True)
    return rows


def _local(version):
    from classification.registry import artifacts

    return artifacts.local_model_path(version)


def _report(results: list[dict], counts, seeds) -> str:
    """Mean and spread over seeds: one seed's curve moves by a few points with the split alone."""
    import statistics

    from ml.reports import pyplot

    def values(strategy, count, key="accuracy"):
        return [r[key] for r in results if r["strategy"] == strategy and r["reviews"] == count and key in r]

    def mean(strategy, count, key="accuracy"):
        found = values(strategy, count, key)
        return statistics.fmean(found) if found else float("nan")

    def spread(strategy, count):
        found = values(strategy, count)
        return statistics.stdev(found) if len(found) > 1 else 0.0

    def wins(count):
        paired = {r["seed"]: r["accuracy"] for r in results if r["strategy"] == "random" and r["reviews"] == count}
        return sum(1 for r in results if r["strategy"] == "least confident" and r["reviews"] == count
                   and r["accuracy"] > paired.get(r["seed"], 1.0))

    table = print_table(
        f"Active learning: held-out accuracy after N reviews (mean ± standard deviation over {len(seeds)} seed(s))",
        ["reviews", "least confident first", "random", "difference", "seeds where least confident won",
         "wrong labels among the least confident", "wrong labels among the random"],
        [[n, f"{mean('least confident', n):.3f} ± {spread('least confident', n):.3f}",
          f"{mean('random', n):.3f} ± {spread('random', n):.3f}",
          round(mean("least confident", n) - mean("random", n), 4), f"{wins(n)} of {len(seeds)}" if n else "–",
          mean("least confident", n, "corrections"), mean("random", n, "corrections")] for n in counts],
    )
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for strategy, style in (("least confident", "o-"), ("random", "s--")):
        axis.errorbar(counts, [mean(strategy, n) for n in counts], yerr=[spread(strategy, n) for n in counts],
                      fmt=style, capsize=3, label=f"{strategy} reviewed")
    axis.set_xlabel("reviews")
    axis.set_ylabel(f"held-out accuracy (mean ± sd, {len(seeds)} seeds)")
    axis.set_title("Retraining on reviews: least confident first vs random")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURE, dpi=100)
    plt.close(figure)
    return table


if __name__ == "__main__":
    main()
