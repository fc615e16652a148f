"""int8 against float with ONNX Runtime, per preset, at batch 1 and 16: speed ratio, agreement, accuracy.

    .venv/bin/python -m bench.int8 [--size 224] [--presets basic_cnn,mobilenet_v2,vgg16] [--quick]

Each preset is built with random weights (speed does not depend on them) and
exported as a worker exports it (:mod:`ml.onnx_export`); its graph is
quantized as activation quantizes it (:func:`ml.quantization.quantize`,
calibrated on the sample photos, or generated images without them). Both
graphs run in sessions configured as the workers configure them, with all
cores; the ratio is int8 time / float time, the median of back-to-back pairs
(:func:`bench.common.paired_ratio`), so a shared machine's load drift
disturbs it far less than a ratio of two medians. The demo bundle (trained)
is measured too, with its accuracy on the labelled sample photos and the rule
of :func:`ml.quantization.check_int8` applied to them: for random weights only
the top-1 agreement means something. Writes bench/results/int8.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    SAMPLES_DIR, models_to_measure, paired_ratio, print_table, sample_images, sample_labels,
    time_interleaved, write_results,
)

PRESETS = ("basic_cnn", "mobilenet_v2", "vgg16")
BATCHES = (1, 16)
CLASSES = ["human", "no_human", "uber_eats"]
CHECKED = ("agreement", "fp32_accuracy", "int8_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()

    threads = os.cpu_count() or 1
    images, image_source = sample_images()
    models = models_to_measure(filter(None, args.presets.split(",")), CLASSES, args.size)

    results, rows = [], []
    for name, build, metadata in models:
        print(f"-- {name}", flush=True)
        result = measure(name, build(), metadata, images, threads, budget=0.5 if args.quick else 2.0)
        results.append(result)
        for batch in BATCHES:
            t = result["ms_per_image"].get(str(batch), {})
            rows.append([name, batch, t.get("fp32", float("nan")), t.get("int8", float("nan")),
                         t.get("int8_over_fp32", float("nan")), *(_dash(result[key]) for key in CHECKED),
                         result["error"] or _rule(result["accepted"])])
    table = print_table(
        f"int8 vs float (ONNX Runtime), ms per image ({args.size}×{args.size}, {threads} cores shared with other "
        f"work, {image_source})",
        ["model", "batch", "float", "int8", "int8 / float", "top-1 agreement", "float accuracy", "int8 accuracy",
         "rule"],
        rows,
    )
    write_results("int8", {"size": args.size, "threads": threads, "images": image_source, "models": results}, [table])


def measure(name, model, metadata, images, threads, budget) -> dict:
    from ml.onnx_export import ExportError, export_onnx
    from ml.preprocessing import prepare_batch
    from ml.quantization import check_int8, quantize
    from ml.runtimes import OnnxRuntime

    batch = prepare_batch(images, metadata.input_size, metadata.preprocessing)
    batch = np.concatenate([batch] * (1 + max(BATCHES) // len(batch)))[: max(BATCHES)]
    result = {"model": name, "architecture": metadata.architecture, "parameters": int(model.count_params()),
              "ms_per_image": {}, "agreement": None, "fp32_accuracy": None, "int8_accuracy": None,
              "accepted": None, "error": "", "quantize_seconds": None}
    with tempfile.TemporaryDirectory() as scratch:
        try:
            onnx_path = export_onnx(model, scratch)
            started = time.perf_counter()
            int8_path = quantize(onnx_path, Path(scratch) / "int8.onnx", batch)
            result["quantize_seconds"] = round(time.perf_counter() - started, 2)
        except (ExportError, ValueError, RuntimeError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"[:200]
            print(f"   {result['error']}", flush=True)
            return result
        fp32, int8 = OnnxRuntime(onnx_path, threads=threads), OnnxRuntime(int8_path, threads=threads)
        labels = _sample_labels(images, metadata) if name.startswith("bundle ") else None
        if labels is not None:
            check = check_int8(fp32, int8, prepare_batch(images, metadata.input_size, metadata.preprocessing), labels)
            result.update(fp32_accuracy=check.fp32_accuracy, int8_accuracy=check.int8_accuracy, accepted=check.accepted)
        result["agreement"] = round(float(np.mean(fp32(batch).argmax(1) == int8(batch).argmax(1))), 4)
        for size in BATCHES:
            part = batch[:size]
            medians = time_interleaved({"fp32": lambda: fp32(part), "int8": lambda: int8(part)}, budget_s=budget)
            ratio = paired_ratio(lambda: int8(part), lambda: fp32(part))
            result["ms_per_image"][str(size)] = {
                "fp32": 1000 * medians["fp32"] / size, "int8": 1000 * medians["int8"] / size, "int8_over_fp32": ratio,
            }
            print(f"   batch {size}: " + ", ".join(f"{k} {v:.3f}" for k, v in result["ms_per_image"][str(size)].items()),
                  flush=True)
    return result


def _dash(value):
    return "–" if value is None else value


def _rule(accepted: bool | None) -> str:
    return "n/a (random weights)" if accepted is None else ("served" if accepted else "refused")


def _sample_labels(images, metadata):
    """Class indices of the sample photos for a bundle whose classes they are labelled with; else None."""
    labels = sample_labels()
    files = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not labels or len(files) != len(images):
        return None
    if not all(labels.get(p.name) in metadata.class_names for p in files):
        return None
    return np.array([metadata.class_names.index(labels[p.name]) for p in files])


if __name__ == "__main__":
    main()
