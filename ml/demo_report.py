"""What :mod:`ml.demo` reports about the demo model: the held-out split per source, and its README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ml.demo_data import DEMO_TEST_SPLIT, DEMO_VAL_SPLIT
from ml.reports import classification_report_text

#: Written by ``bench/demo_experiments.py --what loso``, not by ml.demo: kept when the bundle is rebuilt.
LOSO_FILE = "leave_one_source_out.md"


def per_source(bundle: Path, data: Path, shared_datasets: Path) -> dict:
    """The test split's accuracy per photo collection (and synthesised), person recall in the surveillance stills.

    Also the accuracy against index.csv's own labels, where relabelling changed some.
    """
    from ml.layouts import read_layout
    from ml.predictor import Predictor
    from ml.evaluate import evaluate_predictor

    folder, split = read_layout(data)
    test = split.test
    files = [folder.files[i] for i in test]
    labels = [folder.class_names[folder.labels[i]] for i in test]
    evaluation = evaluate_predictor(Predictor.from_bundle(bundle), files, labels)
    right = evaluation.y_true == evaluation.y_pred
    sources = np.array([folder.sources[i] or "synthesised" for i in test])
    original = _index_labels(shared_datasets)
    index_labels = np.array([original.get(str(f.resolve()), label) for f, label in zip(files, labels)])
    predicted = np.array([evaluation.class_names[p] for p in evaluation.y_pred])
    result = {"test images": len(files), "accuracy": round(float(right.mean()), 4)}
    for source in sorted(set(sources)):
        inside = sources == source
        result[f"{source} accuracy"] = round(float(right[inside].mean()), 4)
        result[f"{source} images"] = int(inside.sum())
    persons = (sources == "human_detection") & (np.array(labels) == "human")
    result["human_detection person recall"] = round(float(right[persons].mean()), 4)
    result["human_detection persons"] = int(persons.sum())
    result["accuracy against index.csv labels"] = round(float((predicted == index_labels).mean()), 4)
    result["mistakes"] = [{**m, "file": str(Path(m["file"]).resolve())} for m in evaluation.mistakes()]
    return result


def _index_labels(shared_datasets: Path) -> dict[str, str]:
    import csv

    with open(shared_datasets / "index.csv", newline="") as fh:
        return {str((shared_datasets / row["file"]).resolve()): row["label"] for row in csv.DictReader(fh)}


def write_readme(out: Path, metadata, result, samples, held_out: dict, recipe, wall: float, command: str) -> None:
    counts = "\n".join(
        f"| {part} | " + " | ".join(str(result.counts[part][c]) for c in metadata.class_names) + " |"
        for part in ("train", "val", "test")
    )
    sources = "\n".join(
        f"| {name[:-len(' accuracy')]} | {held_out[name[:-len('accuracy')] + 'images']} | {value:.3f} |"
        for name, value in held_out.items() if name.endswith(" accuracy") and name != "accuracy"
        and not name.startswith("accuracy")
    )
    recipe_rows = "\n".join(f"| `{key}` | {value} |" for key, value in dataclasses.asdict(recipe).items())
    loso = f"\n{(out / LOSO_FILE).read_text()}" if (out / LOSO_FILE).is_file() else ""
    text = f"""# Demo model

{metadata.description}

## Rebuild

From the project root, with `../shared` holding the shared datasets and weights:

    {command}

Last run: {wall / 60:.1f} minutes wall time on a 2-core CPU shared with other jobs (training step
{result.wall_seconds:.0f} s). The dataset goes to `var/datasets/demo` (git-ignored; real photos are
linked, not copied). The recipe (`ml/demo.py`, `Recipe`; each a `python -m ml.demo` option):

| option | value |
|---|---|
{recipe_rows}

## Held-out test split

{DEMO_TEST_SPLIT:.0%} of every photo folder of `shared/datasets/index.csv` (`human_detection/human`,
`natural_images/cat`, ...), drawn by seed {recipe.seed} (`ml.demo_data.build_demo_dataset`), and
the uber_eats images synthesised over those photos only; {DEMO_VAL_SPLIT:.0%} more is the validation
split (early stopping, temperature). Training never sees either.

| metric | value |
|---|---|
| held-out test accuracy ({result.test_metrics['count']} images) | {result.test_metrics['accuracy']:.3f} |
| held-out test macro F1 | {result.test_metrics['macro_f1']:.3f} |
| person recall in human_detection (surveillance stills, {held_out['human_detection persons']} persons) | {held_out['human_detection person recall']:.3f} |
| accuracy against index.csv's own labels (before relabelling) | {held_out['accuracy against index.csv labels']:.3f} |
| expected calibration error, calibrated (uncalibrated) | {metadata.metrics.get('test_ece')} ({metadata.metrics.get('test_ece_uncalibrated')}) |
| temperature (fitted on validation) | {metadata.temperature} |
| accuracy on shared/samples ({samples.metrics['count']} real photos, never trained on) | {samples.metrics['accuracy']:.3f} |

Per source (test split):

| source | images | accuracy |
|---|---|---|
{sources}

The synthesised uber_eats images are like the training ones, so their
accuracy overstates accuracy on real Uber Eats photos; shared/samples is the
check on real ones, but with 16 photos each one moves accuracy by 0.06.

Samples (rows: true, columns: predicted, order {', '.join(metadata.class_names)}):

```
{classification_report_text(samples.metrics)}```

Images per class and split:

| split | {' | '.join(metadata.class_names)} |
|---|{'---|' * len(metadata.class_names)}
{counts}
{loso}
## Files

- `model.keras`, `metadata.json`: the bundle (`ml.predictor.Predictor.from_bundle`), with its temperature.
- `training_curves.png`, `training_report.json`: accuracy/loss per epoch, full config, counts, wall time.
- `test_*`, `samples_*`: confusion matrices (counts and normalised), classification reports, reliability diagram.
- `demo_summary.json`: the numbers above, the held-out mistakes.
- `{LOSO_FILE}`: leave one source out (`python -m bench.demo_experiments --what loso`).

How each part of the recipe was chosen on the validation split, the other runs and seeds: the
project README, "The demo model".
"""
    (out / "README.md").write_text(text)
