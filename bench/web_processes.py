"""How many web processes per core: upload throughput and CPU with 1, 2 and 4 web processes.

    .venv/bin/python -m bench.web_processes [--clients 8] [--seconds 10] [--processes 1,2,4]

An isolated stack (:mod:`bench.stack`) runs the largest number of web
processes at once; each level sends its closed-loop clients to the first N
of them, client i always to process i mod N (as a proxy keeps a connection
on one replica), so the processes not in use stay idle. Clients upload a
sample photo per request through the form (accepted rows, queued: no worker
runs, so the numbers are the web tier's alone). Reported per level: accepted
uploads per second, latency p50/p95, the web processes' CPU milliseconds per
upload and their total CPU use in cores. On a machine shared with other work
the absolute numbers drift; the levels run back to back, in one stack.
Writes bench/results/web_processes.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import CpuMeter, percentile, print_table, sample_images, write_results
from bench.end_to_end import Uploader, upload_for
from bench.stack import Stack, light_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    levels = [int(n) for n in args.processes.split(",") if n.strip()]
    images, image_source = sample_images()

    with tempfile.TemporaryDirectory() as scratch, Stack(bundle=light_bundle(Path(scratch))) as stack:
        urls, pids = [], []
        for _ in range(max(levels)):
            urls.append(stack.start_web())
            pids.append(stack.processes[-1].pid)
        results = []
        for count in levels:
            print(f"-- {count} web process(es), {args.clients} clients", flush=True)
            results.append(run_level(urls[:count], pids[:count], images, args.clients, args.seconds))
            print(f"   {results[-1]}", flush=True)
    table = print_table(
        f"Web processes: uploads through the form, {args.clients} closed-loop clients, {args.seconds:.0f} s a level "
        f"({os.cpu_count()} cores shared with other work, {image_source}, no worker)",
        ["web processes", "uploads/s", "p50 ms", "p95 ms", "web CPU ms per upload", "web CPU (cores)"],
        [[r["processes"], r["uploads_per_second"], r["p50_ms"], r["p95_ms"], r["web_cpu_ms_per_upload"],
          r["web_cpu_cores"]] for r in results],
    )
    write_results("web_processes", {"clients": args.clients, "seconds": args.seconds, "levels": results}, [table])


def run_level(urls: list[str], pids: list[int], images: list[bytes], clients: int, seconds: float) -> dict:
    uploaders = [Uploader(urls[index % len(urls)]) for index in range(clients)]
    for uploader in uploaders:  # one request each first: connections open, the code paths warm
        uploader.upload("warm.jpg", images[0])
    meter = CpuMeter({"web": pids})
    latencies, elapsed = upload_for(uploaders, images, seconds, ".jpg")
    web_cpu = meter.seconds().get("web", 0.0)
    return {
        "processes": len(urls),
        "uploads": len(latencies),
        "uploads_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p95_ms": round(1000 * percentile(latencies, 95), 1),
        "web_cpu_ms_per_upload": round(1000 * web_cpu / max(1, len(latencies)), 2),
        "web_cpu_cores": round(web_cpu / elapsed, 2),
    }


if __name__ == "__main__":
    main()
