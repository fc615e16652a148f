"""What every benchmark shares: sample images, timing statistics, tables, the JSON results.

Results go to ``bench/results/NAME.json`` (git-ignored) with the machine and
package versions they were measured with, and the load average at the start,
since a busy machine skews every number.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_DIR / "bench" / "results"
SHARED_DIR = Path(os.environ.get("SHARED_DIR", REPO_DIR.parent / "shared"))
SAMPLES_DIR = SHARED_DIR / "samples"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))


def sample_images(count: int | None = None) -> tuple[list[bytes], str]:
    """The shared sample photos as bytes, or generated photos when they are absent; and which."""
    files = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if files:
        images, source = [p.read_bytes() for p in files], f"{len(files)} photos in {SAMPLES_DIR}"
    else:
        images, source = generated_images(16), "16 generated images (no shared samples)"
    if count is not None:
        images = [images[i % len(images)] for i in range(count)]
    return images, source


def generated_images(count: int, size: tuple[int, int] = (320, 240)) -> list[bytes]:
    """Seeded noisy gradients as JPEG bytes: photo-like enough to decode and classify."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for i in range(count):
        base = np.linspace(0, 255, size[0])[None, :, None] * (0.3 + 0.7 * rng.random(3))
        pixels = np.clip(base + rng.normal(0, 40, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


def sample_labels() -> dict[str, str]:
    labels = SAMPLES_DIR / "labels.csv"
    if not labels.is_file():
        return {}
    with open(labels, newline="") as fh:
        return {row["file"]: row["label"] for row in csv.DictReader(fh)}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def time_calls(call, *, min_repeats: int = 3, max_repeats: int = 50, budget_s: float = 2.0, warmup: int = 2) -> float:
    """Median seconds of ``call()`` after ``warmup`` calls, repeating within a time budget."""
    for _ in range(warmup):
        call()
    timings: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(timings) < max_repeats and (len(timings) < min_repeats or time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def time_interleaved(calls: dict[str, Any], *, rounds: int = 5, budget_s: float = 2.0, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each of ``calls``, measured in alternating rounds.

    Round-robin rather than one after the other: on a shared machine the load
    drifts, and a ratio between two runtimes is only fair when both saw the same.
    """
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(warmup):
            call()
    deadline = time.perf_counter() + budget_s * len(calls)
    for round_number in range(rounds * 10):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - started)
        if round_number + 1 >= rounds and time.perf_counter() > deadline:
            break
    return {name: statistics.median(values) for name, values in timings.items()}


def paired_ratio(numerator, denominator, *, rounds: int = 21, warmup: int = 1) -> float:
    """Median over rounds of time(numerator) / time(denominator), the two called back to back.

    A ratio within each round cancels the load drift of a shared machine far
    better than a ratio of two medians taken apart.
    """
    for _ in range(warmup):
        numerator(), denominator()
    ratios = []
    for _ in range(rounds):
        started = time.perf_counter()
        numerator()
        middle = time.perf_counter()
        denominator()
        ratios.append((middle - started) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def cpu_seconds_by_process() -> dict[int, tuple[int, str, float]]:
    """Every process's (parent pid, name, CPU seconds so far: user + system), read from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        processes[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return processes


class CpuMeter:
    """CPU time each part of a service used over a stretch of time, from /proc.

    ``roles`` maps a role to the pids whose whole process trees it covers
    (the web process, a worker and its children); PostgreSQL and Redis are found by
    name, and the benchmark process itself is "clients". Processes that end
    within the stretch are not counted (PostgreSQL backends of closed
    connections, say), so the totals are a floor.
    """

    SERVERS = {"postgres": "postgres", "redis-server": "redis"}

    def __init__(self, roles: dict[str, Iterable[int]]):
        self.roles = {role: set(pids) for role, pids in roles.items()}
        self.start_snapshot = cpu_seconds_by_process()

    def seconds(self) -> dict[str, float]:
        now = cpu_seconds_by_process()
        used: dict[str, float] = {}
        for pid, (_parent, name, seconds) in now.items():
            role = self._role_of(pid, now)
            if role is not None:
                before = self.start_snapshot.get(pid, (0, name, 0.0))[2]
                used[role] = used.get(role, 0.0) + max(0.0, seconds - before)
        return used

    def _role_of(self, pid: int, processes: dict[int, tuple[int, str, float]]) -> str | None:
        if pid == os.getpid():
            return "clients"
        name = processes[pid][1]
        for prefix, role in self.SERVERS.items():
            if name.startswith(prefix):
                return role
        ancestor, seen = pid, set()
        while ancestor in processes and ancestor not in seen:
            seen.add(ancestor)
            for role, pids in self.roles.items():
                if ancestor in pids:
                    return role
            ancestor = processes[ancestor][0]
        return None


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Print a Markdown table (pasted as is into the README) and return it."""
    rows = [[_cell(value) for value in row] for row in rows]
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for name in ("tensorflow-cpu", "keras", "onnxruntime", "onnx", "tf2onnx", "numpy", "celery", "channels", "uvicorn"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "versions": versions,
    }


def write_results(name: str, results: dict[str, Any], tables: Sequence[str] = (), directory: Path | None = None) -> Path:
    directory = directory or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    machine_now = {**MACHINE, "load_average_at_end": os.getloadavg()}
    payload = {"benchmark": name, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine_now, **results}
    payload["tables_markdown"] = list(tables)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"Results written to {path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path}")
    return path


MACHINE = machine()


def models_to_measure(presets, class_names, size: int, bundles=None) -> list:
    """``(name, build, metadata)`` for each preset (untrained, ``weights=None``) and model bundle.

    ``bundles`` defaults to the committed demo model when it is there. ``build``
    is called only when the model is measured, so one model at a time is in memory.
    """
    from ml.architectures import build_model
    from ml.bundle import BundleMetadata, read_metadata
    from ml.config import ARCHITECTURES
    from ml.keras_io import load_model

    models = []
    for name in presets:
        metadata = BundleMetadata(name=name, architecture=name, class_names=list(class_names), input_size=size,
                                  preprocessing=ARCHITECTURES[name].preprocessing)
        models.append((name, lambda name=name: build_model(name, len(class_names), size, weights=None), metadata))
    demo = REPO_DIR / "ml" / "demo_model"
    if bundles is None:
        bundles = [str(demo)] if (demo / "metadata.json").is_file() else []
    for bundle in bundles:
        metadata = read_metadata(bundle)
        models.append((f"bundle {metadata.name}", lambda b=bundle: load_model(Path(b) / "model.keras"), metadata))
    return models
