"""How fast a serving process is ready: from its start to the active model loaded and warmed.

Usage: ``python -m bench.worker_start [--starts 9] [--keras-starts 3]``.

The model is compiled once first, as the registry task does at import or
activation (its ONNX export checked against Keras, stored beside the model),
and that step is timed on its own. Then a prefork worker with one pool process
(``make run`` starts two; one keeps the process being timed alone on the
cores) serves the demo model, and its pool process is killed
(SIGKILL) ``--starts`` times: each time the parent forks a new one, and the
time from the kill to the new process's heartbeat row saying "loaded" (model
loaded and one image classified end to end) is one start. Target: p50 ≤ 5 s.
For contrast, ``--keras-starts`` more starts after the version's export is
hidden, as for a version not compiled yet: Keras, with TensorFlow's import.
Prints a Markdown table and writes ``bench/results/worker_start.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import percentile, print_table, write_results
from bench.stack import Stack, light_bundle

TARGET_P50_S = 5.0


def pool_process(parent: int, *, other_than: int = 0, timeout: float = 180.0):
    """The parent's pool process's heartbeat row, once it loaded the model (and is not ``other_than``)."""
    from classification.models import WorkerProcess

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(parent)], capture_output=True,
                                                       text=True).stdout.split()]
        row = (WorkerProcess.objects.filter(pid__in=children, load_count__gte=1, role="classify")
               .exclude(pid=other_than).first())
        if row is not None:
            return row
        time.sleep(0.02)
    raise RuntimeError("no pool process loaded the model in time")


def restarts(worker, count: int, label: str) -> list[dict]:
    records = []
    current = pool_process(worker.pid)
    for index in range(count):
        os.kill(current.pid, signal.SIGKILL)
        killed = time.perf_counter()
        current = pool_process(worker.pid, other_than=current.pid)
        records.append({
            "start": f"{label} {index + 1}", "runtime": current.runtime,
            "kill_to_ready_s": time.perf_counter() - killed,
            "load_s": current.load_seconds, "warmup_s": current.warmup_seconds,
        })
        print(f"{label} start {index + 1}: ready {records[-1]['kill_to_ready_s']:.2f} s after the kill "
              f"({current.runtime}, load {current.load_seconds:.2f} s)", flush=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=9)
    parser.add_argument("--keras-starts", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, Stack(bundle=light_bundle(Path(scratch))) as stack:
        from classification.models import ModelVersion
        from classification.registry import compiling

        started = time.perf_counter()
        version = compiling.compile_version(stack.version.pk)
        compile_s = time.perf_counter() - started
        if version.onnx_error:
            raise SystemExit(f"The demo model did not compile: {version.onnx_error}")

        first_started = time.perf_counter()
        worker = stack.start_worker(concurrency=1)
        pool_process(worker.pid)
        first_s = time.perf_counter() - first_started

        records = restarts(worker, args.starts, "compiled")
        onnx = [r["kill_to_ready_s"] for r in records]
        keras: list[float] = []
        if args.keras_starts:
            ModelVersion.objects.filter(pk=version.pk).update(onnx_artifact="", onnx_sha256="")
            keras_records = restarts(worker, args.keras_starts, "not compiled")
            records += keras_records
            keras = [r["kill_to_ready_s"] for r in keras_records]

    summary = {
        "compile_once_s": compile_s,
        "first_worker_start_s": first_s,
        "compiled_p50_s": statistics.median(onnx),
        "compiled_p90_s": percentile(onnx, 90),
        "compiled_max_s": max(onnx),
        "not_compiled_p50_s": statistics.median(keras) if keras else None,
        "target_p50_s": TARGET_P50_S,
        "meets_target": statistics.median(onnx) <= TARGET_P50_S,
    }
    tables = [
        print_table(
            "Serving process start to ready (kill -9 of the pool process → new one loaded and warmed)",
            ["start", "runtime", "kill → ready (s)", "load (s)", "warm-up (s)"],
            [[r["start"], r["runtime"], r["kill_to_ready_s"], r["load_s"], r["warmup_s"]] for r in records],
        ),
        print_table(
            "Summary",
            ["compile once (s)", "first worker start (s)", "compiled p50 (s)", "compiled max (s)",
             "not compiled p50 (s)", f"p50 ≤ {TARGET_P50_S:g} s"],
            [[compile_s, first_s, summary["compiled_p50_s"], summary["compiled_max_s"],
              summary["not_compiled_p50_s"] if keras else float("nan"), "yes" if summary["meets_target"] else "NO"]],
        ),
    ]
    write_results("worker_start", {"starts": records, "summary": summary}, tables)


if __name__ == "__main__":
    main()
