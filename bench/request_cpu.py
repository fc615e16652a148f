"""CPU per request of every process of the service, for code revisions side by side, in one run.

    .venv/bin/python -m bench.request_cpu --revisions REV,...,HEAD [--clients 10,50] [--seconds 10] [--rounds 3]
                                          [--bundle PATH]

Each revision (a git revision checked out in a temporary worktree, or
``HEAD``/``.`` for the working tree) gets a whole isolated service of its own
(:mod:`bench.stack`: the web process and one prefork worker process, its own database,
Redis keys and files, that revision's code throughout, its ``bench/`` included),
all of them up at once; the light model (or ``--bundle``) compiled as the
registry does. Rounds take the revisions in turn, starting at a different one
each round, so load that drifts on a shared machine touches all alike: for
``--seconds``, each of ``--clients`` closed-loop clients uploads a sample photo
through the form and sends the next once its result was pushed on the live
feed (as in :mod:`bench.end_to_end`). Reported per revision and level: the
median over rounds of results/s, the mean micro-batch, upload → pushed p50
and p95, and the CPU each process used per request (user + system, from
/proc): the web process, the worker's parent (Celery's consumer) and its pool
process, PostgreSQL and Redis (shared with whatever else runs), and the
benchmark's own clients. The model alone
serving as many closed-loop callers (:class:`bench.end_to_end.ModelAlone`)
is measured in the same run, before and after the rounds, so each revision's
results/s has its saturation ratio; and with the CPU it used per image, so
each has a CPU ratio too: the model alone's CPU per image over the service's
per request, what the saturation ratio is when both have the cores to
themselves. Writes bench/results/request_cpu.json.

CPU per request is the steadier figure on a busy machine: results/s follow
whatever else takes the cores, while the work each request costs moves less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROCESSES = ("web", "worker_parent", "worker_pool", "postgres", "redis", "clients")


def serve(control: Path, bundle: str) -> None:
    """One revision's service, in its checkout (cwd): up, then a round each time the coordinator asks."""
    sys.path.insert(0, os.getcwd())  # this revision's bench/ and code, not the coordinator's
    from bench.common import cpu_seconds_by_process, percentile, sample_images
    from bench.end_to_end import PUSH_TIMEOUT_S, LiveFeed, Uploader
    from bench.stack import Stack, light_bundle

    images, _ = sample_images()
    with tempfile.TemporaryDirectory() as scratch, \
            Stack(bundle=Path(bundle) if bundle else light_bundle(Path(scratch))) as stack:
        from django.conf import settings

        from classification.models import Classification

        stack.start_web()
        worker = stack.start_worker(log_name="worker-request-cpu")
        stack.wait_for_workers(1, time.time() - 300)
        web = next(process.pid for process in stack.processes if process is not worker)
        feed = LiveFeed(stack.url)
        for n in range(10):  # first requests of both processes are not what this measures
            pk, *_ = Uploader(stack.url).upload(f"warm-{n}.png", images[n % len(images)])
            feed.wait(pk, PUSH_TIMEOUT_S)
        (control / "ready.json").write_text(json.dumps({"max_batch": settings.CLASSIFIER_BATCH_MAX_SIZE,
                                                        "bundle": str(stack.bundle)}))
        number = 0
        while True:
            order = control / f"go-{number}"
            while not order.exists() and not (control / "stop").exists():
                time.sleep(0.05)
            if not order.exists():
                break
            clients, seconds = json.loads(order.read_text())
            newest = Classification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            before = cpu_seconds_by_process()
            sent, wall, latencies = _closed_loop(stack.url, feed, images, clients, seconds)
            after = cpu_seconds_by_process()
            done = Classification.objects.filter(pk__gt=newest, status="done")
            batches = len(set(done.values_list("started_at", flat=True)))
            used = {
                "web": _cpu(before, after, _tree(web, after)),
                "worker_parent": _cpu(before, after, {worker.pid}),
                "worker_pool": _cpu(before, after, _tree(worker.pid, after) - {worker.pid}),
                "postgres": _cpu(before, after, {pid for pid, v in after.items() if v[1].startswith("postgres")}),
                "redis": _cpu(before, after, {pid for pid, v in after.items() if v[1].startswith("redis-server")}),
                "clients": _cpu(before, after, {os.getpid()}),
            }
            result = {"requests": sent, "per_s": sent / wall, "mean_batch": done.count() / max(1, batches),
                      "pushed_p50_ms": percentile(latencies, 50), "pushed_p95_ms": percentile(latencies, 95),
                      "cpu_ms": {name: 1000 * seconds / max(1, sent) for name, seconds in used.items()}}
            (control / f"result-{number}.json").write_text(json.dumps(result))
            number += 1
        feed.close()


def _closed_loop(url, feed, images, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    """Requests sent, the seconds they took, and each one's upload → pushed time (ms)."""
    from bench.end_to_end import PUSH_TIMEOUT_S, Uploader

    deadline = time.monotonic() + seconds
    counts = [0] * clients
    latencies: list[float] = []

    def client(index: int) -> None:
        uploader = Uploader(url)
        while time.monotonic() < deadline:
            image = images[(index + counts[index]) % len(images)]
            pk, sent, _ = uploader.upload(f"c{index}-{counts[index]}.png", image)
            pushed = feed.wait(pk, PUSH_TIMEOUT_S)
            if pushed:
                latencies.append(1000 * (pushed - sent))
            counts[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.monotonic() - started, latencies


def _tree(root: int, processes: dict) -> set[int]:
    members, grown = {root}, True
    while grown:
        grown = False
        for pid, (parent, _name, _cpu_seconds) in processes.items():
            if parent in members and pid not in members:
                members.add(pid)
                grown = True
    return members


def _cpu(before: dict, after: dict, pids) -> float:
    return sum(after[pid][2] - before.get(pid, (0, "", 0.0))[2] for pid in pids if pid in after)


def _model_alone(bundle: Path, images: list[bytes], levels: list[int], max_batch: int) -> dict:
    from bench.end_to_end import ModelAlone

    model = ModelAlone(bundle, images, max_batch)
    return {clients: model.under_load(clients) for clients in levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", default="HEAD", help="comma-separated git revisions (HEAD: the working tree)")
    parser.add_argument("--names", default="", help="comma-separated labels for the revisions, in the same order")
    parser.add_argument("--clients", default="10,50", help="closed-loop levels")
    parser.add_argument("--seconds", type=float, default=10.0, help="per revision, level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bundle", default="", help="model bundle (default: the light model)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # a revision's service: its control folder
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve), args.bundle)
        return

    from bench.common import REPO_DIR, print_table, sample_images, write_results
    from bench.web_cpu import checkout

    revisions = [revision.strip() for revision in args.revisions.split(",") if revision.strip()]
    names = [name.strip() for name in args.names.split(",")] if args.names else revisions
    levels = [int(clients) for clients in args.clients.split(",")]
    load_at_start = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-request-cpu-"))
    checkouts, services, variants = {}, [], []
    try:
        for revision in revisions:
            checkouts[revision] = checkout(revision, scratch)
        for name, revision in zip(names, revisions):
            source, commit = checkouts[revision]
            control = scratch / f"control-{len(variants)}"
            control.mkdir()
            log = open(control / "log.txt", "w")
            services.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve", str(control), "--bundle", args.bundle],
                cwd=source, env={**os.environ, "PYTHONPATH": str(source)}, stdout=log, stderr=subprocess.STDOUT))
            variants.append({"name": name, "revision": revision, "commit": commit, "control": control, "rounds": []})
        for variant, service in zip(variants, services):
            while not (variant["control"] / "ready.json").exists():
                if service.poll() is not None:
                    raise RuntimeError(f"{variant['name']}'s service did not start:\n"
                                       + (variant["control"] / "log.txt").read_text()[-3000:])
                time.sleep(0.5)
        ready = json.loads((variants[0]["control"] / "ready.json").read_text())
        images, image_source = sample_images()
        floor_before = _model_alone(Path(ready["bundle"]), images, levels, ready["max_batch"])
        asked = [0] * len(variants)
        for round_number in range(args.rounds):
            shift = round_number % len(variants)
            for clients in levels:
                for index in list(range(len(variants)))[shift:] + list(range(len(variants)))[:shift]:
                    variant, control = variants[index], variants[index]["control"]
                    load = os.getloadavg()[0]
                    (control / f"go-{asked[index]}").write_text(json.dumps([clients, args.seconds]))
                    answer = control / f"result-{asked[index]}.json"
                    while not answer.exists():
                        if services[index].poll() is not None:
                            raise RuntimeError(f"{variant['name']}'s service stopped; see {control}/log.txt")
                        time.sleep(0.1)
                    time.sleep(0.1)  # written in full
                    result = {**json.loads(answer.read_text()), "clients": clients, "round": round_number,
                              "load_average_before": load}
                    asked[index] += 1
                    variant["rounds"].append(result)
                    print(f"round {round_number + 1}, {clients} clients, {variant['name']}: {result['per_s']:.1f}/s, "
                          f"batch {result['mean_batch']:.1f}, CPU ms per request "
                          + ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_ms"].items()), flush=True)
        floor_after = _model_alone(Path(ready["bundle"]), images, levels, ready["max_batch"])
    finally:
        for variant in variants:
            (variant["control"] / "stop").write_text("")
        for service in services:
            try:
                service.wait(timeout=120)
            except subprocess.TimeoutExpired:
                service.terminate()
        for source, _ in checkouts.values():
            if source != REPO_DIR:
                subprocess.run(["git", "worktree", "remove", "--force", str(source)], cwd=REPO_DIR, check=False)
        shutil.rmtree(scratch, ignore_errors=True)

    model_alone = {clients: statistics.mean([floor_before[clients]["per_s"], floor_after[clients]["per_s"]])
                   for clients in levels}
    model_cpu = {clients: statistics.mean([floor_before[clients]["cpu_ms_per_image"],
                                           floor_after[clients]["cpu_ms_per_image"]]) for clients in levels}
    summary = []
    for clients in levels:
        for variant in variants:
            rounds = [r for r in variant["rounds"] if r["clients"] == clients]
            cpu = {name: statistics.median(r["cpu_ms"][name] for r in rounds) for name in PROCESSES}
            per_s = statistics.median(r["per_s"] for r in rounds)
            summary.append({"name": variant["name"], "revision": variant["revision"], "commit": variant["commit"],
                            "clients": clients, "per_s": per_s, "model_alone_per_s": model_alone[clients],
                            "ratio": per_s / model_alone[clients],
                            "model_alone_cpu_ms_per_image": model_cpu[clients],
                            # What the ratio is where both have the cores to themselves: the model alone's CPU per
                            # image over the service's per request (steadier than results/s on a busy machine).
                            "cpu_ratio": model_cpu[clients] / sum(cpu.values()),
                            "mean_batch": statistics.median(r["mean_batch"] for r in rounds),
                            "pushed_p50_ms": statistics.median(r["pushed_p50_ms"] for r in rounds),
                            "pushed_p95_ms": statistics.median(r["pushed_p95_ms"] for r in rounds),
                            "cpu_ms": {**cpu, "total": sum(cpu.values())},
                            "total_range": [min(sum(r["cpu_ms"].values()) for r in rounds),
                                            max(sum(r["cpu_ms"].values()) for r in rounds)],
                            "rounds": rounds})
    table = print_table(
        f"CPU per request, ms, each process (median of {args.rounds} rounds of {args.seconds:g} s; {image_source}; "
        f"load average {load_at_start[0]:.2f} at the start; model alone, same callers: "
        + ", ".join(f"{c} callers {model_alone[c]:.0f}/s, {model_cpu[c]:.1f} ms CPU an image" for c in levels) + ")",
        ["revision", "clients", "results/s", "ratio to the model alone", "CPU ratio", "pushed p50 ms", "pushed p95 ms",
         "mean batch", *PROCESSES, "total", "total range"],
        [[f"{s['name']} ({s['commit']})", s["clients"], s["per_s"], s["ratio"], s["cpu_ratio"], s["pushed_p50_ms"],
          s["pushed_p95_ms"],
          s["mean_batch"],
          *(s["cpu_ms"][name] for name in PROCESSES), s["cpu_ms"]["total"],
          f"{s['total_range'][0]:.1f}–{s['total_range'][1]:.1f}"] for s in summary],
    )
    write_results("request_cpu", {"bundle": ready["bundle"], "seconds": args.seconds, "rounds": args.rounds,
                                  "load_average_at_start": load_at_start, "images": image_source,
                                  "model_alone": {"before": floor_before, "after": floor_after},
                                  "variants": summary}, [table])


if __name__ == "__main__":
    main()
