"""The web process's CPU per upload: ASGI servers and code revisions side by side, in one run.

    .venv/bin/python -m bench.web_cpu [--servers serve,daphne,uvicorn,granian] [--revisions REV,...,HEAD]
                                      [--variants REV@SERVER,...] [--clients 4] [--seconds 6] [--rounds 3]

One isolated stack (:mod:`bench.stack`: its own database, Redis keys and
files; no worker, so the rows stay queued and the numbers are the web tier's
alone) serves every variant at once: each server of ``--servers`` running each
revision of ``--revisions`` (a git revision, checked out in a temporary
worktree, or ``HEAD``/``.`` for the working tree as it is), or only the pairs
``--variants`` names (``REV@SERVER``). Rounds take the
variants in turn, each sending ``--clients`` closed-loop clients uploading the
sample photos through the form (JSON answers) for ``--seconds``, so load that
drifts on a shared machine touches every variant alike. Reported per variant:
the median over rounds of the web process's CPU per upload (user + system,
its whole process tree, from /proc), its range, uploads/s and latency p50/p95;
also PostgreSQL's and Redis's CPU per upload (shared with whatever else runs).
Servers not installed in the environment can be given a folder with
``BENCH_EXTRA_PATH``. Writes bench/results/web_cpu.json, with the load average
at the start of the run and of each round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.common import REPO_DIR, CpuMeter, percentile, print_table, sample_images, write_results
from bench.end_to_end import Uploader, upload_for
from bench.stack import Stack, light_bundle

WORKING_TREE = {"HEAD", ".", ""}


def checkout(revision: str, scratch: Path) -> tuple[Path, str]:
    """A directory holding ``revision`` (the working tree itself for HEAD), and the commit it is."""
    if revision in WORKING_TREE:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_DIR,
                               capture_output=True, text=True, check=True).stdout.strip()
        return REPO_DIR, commit + ("+changes" if dirty else "")
    target = scratch / revision.replace("/", "_").replace("~", "-").replace("^", "-")
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(target), revision], cwd=REPO_DIR, check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=REPO_DIR, capture_output=True, text=True,
                            check=True).stdout.strip()
    return target, commit


def measure(url: str, pid: int, images: list[bytes], clients: int, seconds: float) -> dict:
    uploaders = [Uploader(url) for _ in range(clients)]
    meter = CpuMeter({"web": [pid]})
    latencies, elapsed = upload_for(uploaders, images, seconds, ".png")
    cpu = meter.seconds()
    count = max(1, len(latencies))
    return {
        "uploads": len(latencies),
        "uploads_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
        "web_cpu_ms_per_upload": 1000 * cpu.get("web", 0.0) / count,
        "postgres_cpu_ms_per_upload": 1000 * cpu.get("postgres", 0.0) / count,
        "redis_cpu_ms_per_upload": 1000 * cpu.get("redis", 0.0) / count,
        "load_average_before": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="serve", help="comma-separated: serve, daphne, uvicorn, granian")
    parser.add_argument("--revisions", default="HEAD", help="comma-separated git revisions (HEAD: the working tree)")
    parser.add_argument("--variants", default="", help="comma-separated REV@SERVER pairs, instead of every pair")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20, help="uploads to each variant before measuring")
    args = parser.parse_args()
    if args.variants:
        pairs = [tuple(item.strip().rsplit("@", 1)) for item in args.variants.split(",") if item.strip()]
    else:
        pairs = [(revision.strip(), server) for revision in args.revisions.split(",")
                 for server in args.servers.split(",") if server]
    revisions = list(dict.fromkeys(revision for revision, _ in pairs))
    images, image_source = sample_images()
    load_at_start = os.getloadavg()

    scratch = Path(tempfile.mkdtemp(prefix="bench-web-cpu-"))
    checkouts = {}
    try:
        for revision in revisions:
            checkouts[revision] = checkout(revision, scratch)
        with Stack(bundle=light_bundle(scratch)) as stack:
            variants = []
            for revision, server in pairs:
                source, commit = checkouts[revision]
                name = f"{server} @ {revision}" + ("" if revision == commit else f" ({commit})")
                url = stack.start_web(server, source=source, log_name=f"web-{len(variants)}-{server}")
                variants.append({"name": name, "server": server, "revision": revision, "commit": commit,
                                 "url": url, "pid": stack.processes[-1].pid, "rounds": []})
            for variant in variants:  # connections, caches and code paths warm before anything counts
                uploader = Uploader(variant["url"])
                for n in range(args.warmup):
                    uploader.upload(f"warm-{n}.png", images[n % len(images)])
            for round_number in range(args.rounds):
                # A different variant goes first each round: none always follows the same one.
                shift = round_number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    result = measure(variant["url"], variant["pid"], images, args.clients, args.seconds)
                    variant["rounds"].append(result)
                    print(f"round {round_number + 1} {variant['name']}: {result['web_cpu_ms_per_upload']:.2f} ms CPU "
                          f"per upload, {result['uploads_per_s']:.1f}/s, p50 {result['p50_ms']:.1f} ms "
                          f"(load {result['load_average_before']:.2f})", flush=True)
    finally:
        for revision, (source, _) in checkouts.items():
            if source != REPO_DIR:
                subprocess.run(["git", "worktree", "remove", "--force", str(source)], cwd=REPO_DIR, check=False)
        shutil.rmtree(scratch, ignore_errors=True)

    summary = []
    for variant in variants:
        rounds = variant["rounds"]
        cpu = [r["web_cpu_ms_per_upload"] for r in rounds]
        summary.append({
            "name": variant["name"], "server": variant["server"], "revision": variant["revision"],
            "commit": variant["commit"],
            "web_cpu_ms_per_upload": statistics.median(cpu), "min": min(cpu), "max": max(cpu),
            "uploads_per_s": statistics.median(r["uploads_per_s"] for r in rounds),
            "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
            "p95_ms": statistics.median(r["p95_ms"] for r in rounds),
            "postgres_cpu_ms_per_upload": statistics.median(r["postgres_cpu_ms_per_upload"] for r in rounds),
            "redis_cpu_ms_per_upload": statistics.median(r["redis_cpu_ms_per_upload"] for r in rounds),
            "rounds": rounds,
        })
    table = print_table(
        f"Web CPU per upload, ms (median of {args.rounds} rounds of {args.seconds:g} s, {args.clients} closed-loop "
        f"clients, no worker, {image_source}; load average {load_at_start[0]:.2f} at the start)",
        ["server @ revision", "web CPU / upload", "range", "uploads/s", "p50 ms", "p95 ms", "CPU postgres", "CPU redis"],
        [[s["name"], s["web_cpu_ms_per_upload"], f"{s['min']:.2f}–{s['max']:.2f}", s["uploads_per_s"], s["p50_ms"],
          s["p95_ms"], s["postgres_cpu_ms_per_upload"], s["redis_cpu_ms_per_upload"]] for s in summary],
    )
    write_results("web_cpu", {"clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
                              "load_average_at_start": load_at_start, "images": image_source, "variants": summary},
                  [table])


if __name__ == "__main__":
    main()
