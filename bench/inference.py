"""Inference per image for each preset: Keras predict, a traced tf.function, ONNX Runtime, and the worker's path.

    .venv/bin/python -m bench.inference [--size 224] [--presets basic_cnn,vgg16,mobilenet_v2] [--quick]

Each preset is built with random weights (the speed does not depend on them)
at ``--size`` and fed the shared sample photos (or generated images), prepared
as the workers prepare them. For batch 1 and 16 it reports milliseconds per
image for:

- ``keras predict``: ``model.predict``, what most code calls;
- ``tf.function``: the model's forward pass traced once (the TensorFlow runtime);
- ``onnxruntime``: the Keras ONNX export in an ONNX Runtime session configured
  as the workers configure it (``ort (defaults)``: default session options,
  whose spinning threads are faster in a tight loop but cost several times the CPU);
- ``worker``: ``Predictor(runtime="auto").predict_array``, exactly what a worker runs.

It also reports the largest probability difference from Keras predict, the
runtime the worker chose, and worker / onnxruntime (target: ≤ 1.1), the
median of the two timed back to back, which a shared machine's load drift
disturbs far less than a ratio of the columns.
Writes bench/results/inference.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from bench.common import (
    models_to_measure, paired_ratio, print_table, sample_images, time_interleaved, write_results,
)

PRESETS = ("basic_cnn", "vgg16", "mobilenet_v2")
BATCHES = (1, 16)
RUNNERS = ("keras_predict", "tf_function", "onnxruntime", "worker")
CLASSES = ["human", "no_human", "uber_eats"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--bundle", action="append", default=[], help="also measure this model bundle (repeatable)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()

    import os

    threads = os.cpu_count() or 1
    images, image_source = sample_images()
    models = models_to_measure(filter(None, args.presets.split(",")), CLASSES, args.size, args.bundle or None)

    rows, results = [], []
    for name, build, metadata in models:
        print(f"-- {name}", flush=True)
        try:
            model = build()
        except Exception as exc:  # a bundle being rebuilt meanwhile: measure the rest
            print(f"   skipped: {exc}", flush=True)
            continue
        result = measure(name, model, metadata, images, threads, budget=0.5 if args.quick else 2.0)
        results.append(result)
        for batch in BATCHES:
            t = result["ms_per_image"][str(batch)]
            rows.append([
                name, batch, t["keras_predict"], t["tf_function"], t["onnxruntime"], t["ort_defaults"], t["worker"],
                result["worker_runtime"], t["worker_over_onnxruntime"], t["keras_predict"] / t["worker"],
            ])
    table = print_table(
        f"Inference, ms per image ({args.size}×{args.size}, {threads} cores, {image_source})",
        ["model", "batch", "keras predict", "tf.function", "onnxruntime", "ort (defaults)", "worker",
         "worker runtime", "worker / onnxruntime", "speed-up vs predict"],
        rows,
    )
    differences = print_table(
        "Largest probability difference from Keras predict (sample photos)",
        ["model", "tf.function", "onnxruntime", "worker", "worker load + check (s)", "ONNX export"],
        [[r["model"], r["max_difference"]["tf_function"], r["max_difference"]["onnxruntime"],
          r["max_difference"]["worker"], r["worker_load_seconds"],
          r["export_error"] or f"{r['export_seconds']:.1f} s"] for r in results],
    )
    ratios = [r["ms_per_image"][str(b)]["worker_over_onnxruntime"] for r in results for b in BATCHES if not r["export_error"]]
    write_results(
        "inference",
        {"size": args.size, "threads": threads, "images": image_source, "models": results,
         "targets": {"worker_within_1.1x_of_onnxruntime": {"worst_ratio": max(ratios), "met": max(ratios) <= 1.1}}},
        [table, differences],
    )


def measure(name, model, metadata, images, threads, budget):
    from ml.predictor import Predictor
    from ml.preprocessing import prepare_batch
    from ml.onnx_export import ExportError, export_onnx
    from ml.runtimes import OnnxRuntime, TensorFlowRuntime, as_probabilities

    batch = prepare_batch(images, metadata.input_size, metadata.preprocessing)
    batch = np.concatenate([batch] * (1 + max(BATCHES) // len(batch)))[: max(BATCHES)]
    tf_function = TensorFlowRuntime(model)
    tf_function(batch[:1])
    runners = {"keras_predict": lambda x: model.predict(x, verbose=0), "tf_function": tf_function}
    export_error, export_seconds = "", float("nan")
    with tempfile.TemporaryDirectory() as export_dir:
        try:
            started = time.perf_counter()
            onnx_path = export_onnx(model, export_dir)
            export_seconds = time.perf_counter() - started
            runners["onnxruntime"] = OnnxRuntime(onnx_path, threads=threads)
            ort_defaults = _default_session(onnx_path)
        except ExportError as exc:
            export_error = str(exc)
            print(f"   ONNX export failed: {exc}", flush=True)
        started = time.perf_counter()
        # After a failed export the worker falls back the same way; exporting again would only repeat it.
        runtime = "tensorflow" if export_error else "auto"
        predictor = Predictor(model, metadata, runtime=runtime, export_dir=export_dir, threads=threads)
        load_seconds = time.perf_counter() - started
    runners["worker"] = predictor.predict_array

    reference = as_probabilities(model.predict(batch, verbose=0))
    differences = {
        key: float(np.abs(as_probabilities(runners[key](batch)) - reference).max()) if key in runners else float("nan")
        for key in ("tf_function", "onnxruntime", "worker")
    }
    timings = {}
    for size in BATCHES:
        part = batch[:size]
        medians = time_interleaved({key: (lambda run=run, part=part: run(part)) for key, run in runners.items()}, budget_s=budget)
        if not export_error:
            # Alone: its spinning threads would go on taking the cores from whatever ran next.
            medians.update(time_interleaved({"ort_defaults": lambda part=part: ort_defaults(part)}, budget_s=budget))
        timings[str(size)] = {key: 1000 * medians.get(key, float("nan")) / size for key in (*RUNNERS, "ort_defaults")}
        timings[str(size)]["worker_over_onnxruntime"] = (
            float("nan") if export_error
            else paired_ratio(lambda part=part: runners["worker"](part), lambda part=part: runners["onnxruntime"](part))
        )
        print(f"   batch {size}: " + ", ".join(f"{k} {v:.2f}" for k, v in timings[str(size)].items()) + " (ms per image)",
              flush=True)
    return {
        "model": name,
        "architecture": metadata.architecture,
        "parameters": int(model.count_params()),
        "ms_per_image": timings,
        "max_difference": differences,
        "worker_runtime": predictor.runtime_name,
        "worker_selection": predictor.selection.summary(),
        "worker_load_seconds": load_seconds,
        "export_seconds": export_seconds,
        "export_error": export_error,
    }


def _default_session(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


if __name__ == "__main__":
    main()
