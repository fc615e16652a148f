"""Peak memory of large deep images: four 16-bit PNGs of 6324×6324 posted at once.

    .venv/bin/python -m bench.decode_memory [--images 4] [--side 6324] [--database postgres]

Starts an isolated service (bench/stack.py: the web process and one prefork worker
process, the light model), makes a 16-bit greyscale PNG of ``--side`` pixels a
side (a smooth ramp: about 90 KB on the wire, 40 megapixels once decoded), and
posts ``--images`` of them at the same moment through the upload form, one
request each. Until every one is classified it samples the resident memory of
the web process and of the worker's pool process every few milliseconds (and
reads the kernel's own peak, ``VmHWM``, reset just before the posts), then
reports each process's peak increase over its memory before the posts, in MB
and as a multiple of one image's 8-bit RGB size (side² × 3 bytes). The target:
at most about 3× for each process. Writes bench/results/decode_memory.json.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import print_table, write_results
from bench.end_to_end import Uploader
from bench.stack import Stack, light_bundle

TARGET_MULTIPLE = 3.0
MB = 1024 * 1024


def deep_png(side: int) -> bytes:
    """A 16-bit greyscale ramp, top to bottom: tiny compressed, 2 bytes a pixel decoded."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 65535, side).astype(np.uint16)[:, None]
    image = Image.fromarray(np.ascontiguousarray(np.broadcast_to(ramp, (side, side))))
    assert image.mode == "I;16"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


class PeakMeter:
    """The highest resident memory of some processes while it runs: sampled, and the kernel's VmHWM."""

    def __init__(self, pids: dict[str, int], interval: float = 0.003):
        import psutil

        self.processes = {role: psutil.Process(pid) for role, pid in pids.items()}
        self.before = {role: process.memory_info().rss for role, process in self.processes.items()}
        self.peak = dict(self.before)
        self.hwm_reset = {role: _reset_hwm(process.pid) for role, process in self.processes.items()}
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for role, process in self.processes.items():
                self.peak[role] = max(self.peak[role], process.memory_info().rss)
            time.sleep(self.interval)

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        out = {}
        for role, process in self.processes.items():
            peak = self.peak[role]
            if self.hwm_reset[role]:
                peak = max(peak, _hwm(process.pid))
            out[role] = {"pid": process.pid, "before_mb": self.before[role] / MB, "peak_mb": peak / MB,
                         "increase_mb": (peak - self.before[role]) / MB, "kernel_peak_used": self.hwm_reset[role]}
        return out


def _reset_hwm(pid: int) -> bool:
    """Reset the kernel's peak-RSS counter of ``pid`` (Linux: ``echo 5 > clear_refs``); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="images posted at once")
    parser.add_argument("--side", type=int, default=6324, help="pixels a side (6324² is just under 40 megapixels)")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()

    data = deep_png(args.side)
    rgb_mb = args.side * args.side * 3 / MB
    print(f"{args.images} × 16-bit PNG {args.side}×{args.side}: {len(data) / 1024:.0f} KB each, "
          f"{rgb_mb:.0f} MB as 8-bit RGB, {args.side * args.side * 2 / MB:.0f} MB as 16-bit grey", flush=True)

    with tempfile.TemporaryDirectory() as tmp, Stack(bundle=light_bundle(Path(tmp)), database=args.database) as stack:
        import psutil

        from classification.models import Classification

        since = time.time()
        worker = stack.start_worker()
        stack.wait_for_workers(1, since)
        stack.start_web()
        web = next(p for p in stack.processes if p is not worker)
        [pool] = psutil.Process(worker.pid).children(recursive=True)
        uploaders = [Uploader(stack.url) for _ in range(args.images)]
        uploaders[0].upload("warm-up.png", deep_png(64))  # the web process's first request is not measured
        time.sleep(2)

        meter = PeakMeter({"web": web.pid, "worker": pool.pid})
        started = time.monotonic()
        with ThreadPoolExecutor(args.images) as pool_of_clients:
            ids = list(pool_of_clients.map(lambda n: uploaders[n].upload(f"deep-{n}.png", data)[0], range(args.images)))
        answered = time.monotonic() - started
        deadline = time.monotonic() + 600
        while Classification.objects.filter(public_id__in=ids, status__in=("done", "failed")).count() < len(ids):
            if time.monotonic() > deadline:
                raise RuntimeError("the images were not classified within 10 minutes")
            time.sleep(0.05)
        finished = time.monotonic() - started
        peaks = meter.stop()
        statuses = list(Classification.objects.filter(public_id__in=ids).values_list("status", flat=True))

    rows = []
    for role, peak in peaks.items():
        multiple = peak["increase_mb"] / rgb_mb
        peak.update(multiple_of_rgb=multiple, target=TARGET_MULTIPLE, met=multiple <= TARGET_MULTIPLE)
        rows.append([role, f"{peak['before_mb']:.0f}", f"{peak['peak_mb']:.0f}", f"{peak['increase_mb']:.0f}",
                     f"{multiple:.2f}", "yes" if peak["met"] else "no"])
    table = print_table(
        f"Peak memory, {args.images} × 16-bit PNG {args.side}×{args.side} posted at once "
        f"(8-bit RGB: {rgb_mb:.0f} MB each)",
        ["process", "before (MB)", "peak (MB)", "increase (MB)", "increase ÷ one image's 8-bit RGB size",
         f"≤ {TARGET_MULTIPLE:g}×"],
        rows,
    )
    print(f"All answered in {answered:.1f} s, classified in {finished:.1f} s: {statuses}")
    write_results("decode_memory", {
        "images": args.images, "side": args.side, "png_bytes": len(data), "rgb_mb": rgb_mb,
        "answered_s": answered, "finished_s": finished, "statuses": statuses, "processes": peaks,
    }, [table])


if __name__ == "__main__":
    main()
