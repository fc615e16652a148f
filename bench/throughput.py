"""Worker throughput (images/s), micro-batching on and off, scaling with processes, and memory over time.

    .venv/bin/python -m bench.throughput [--images 400] [--memory-images 5000] [--processes 1,2]

Starts an isolated service (bench/stack.py) without the web process: rows are
created directly (the sample photos stored once, rows pointing at them) and
their tasks published as fast as the broker takes them, so only the worker is
measured. Each configuration gets a fresh worker that has loaded the light
model before the first task is published.

1. Micro-batching, measured to choose it: one process with batches of 1 (off)
   and of 16, and 16 with a 20 ms wait for company (what a flush-interval
   batcher such as celery-batches does): images/s under load, and the latency
   of a lone image (published when the queue is empty; publish → stored).
2. Scaling: 1 and 2 worker processes (each with cores / processes threads).
3. Memory: the RSS of one worker process after 100 and after ``--memory-images``
   classifications (target: under 5 % growth), sampled along the way.

Writes bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import percentile, print_table, sample_images, write_results
from bench.stack import Stack, light_bundle


def make_rows(templates: list, count: int) -> list[int]:
    """``count`` queued rows that reuse the template rows' stored images."""
    from classification.models import Classification

    fields = ("image", "thumbnail", "content_type", "byte_size", "width", "height", "content_hash")
    rows = [
        Classification(original_name=f"bench-{i}.png", **{f: getattr(templates[i % len(templates)], f) for f in fields})
        for i in range(count)
    ]
    return [row.pk for row in Classification.objects.bulk_create(rows, batch_size=1000)]


def publish(ids: list[int]) -> None:
    from classification.tasks import classify_image
    from classifier_site.celery import app

    with app.producer_or_acquire() as producer:
        for pk in ids:
            classify_image.apply_async((pk,), producer=producer)


def wait_done(ids: list[int], timeout: float, on_progress=None) -> None:
    from classification.models import Classification

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = Classification.objects.filter(pk__in=ids, status__in=("done", "failed")).count()
        if on_progress:
            on_progress(finished)
        if finished == len(ids):
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {finished} of {len(ids)} classifications finished within {timeout:.0f} s")


def timings(ids: list[int]) -> dict:
    from classification.models import Classification

    rows = list(Classification.objects.filter(pk__in=ids).values("status", "started_at", "finished_at"))
    failed = sum(row["status"] != "done" for row in rows)
    return {
        "first_started": min(r["started_at"] for r in rows).timestamp(),
        "last_finished": max(r["finished_at"] for r in rows).timestamp(),
        "batches": len({r["started_at"] for r in rows}),
        "failed": failed,
    }


def lone_latency(templates: list, count: int = 10) -> list[float]:
    """Publish → stored for images sent one at a time into an empty queue, in ms."""
    from classification.models import Classification

    latencies = []
    for _ in range(count):
        [pk] = make_rows(templates, 1)
        sent = time.time()
        publish([pk])
        wait_done([pk], 30)
        latencies.append(1000 * (Classification.objects.get(pk=pk).finished_at.timestamp() - sent))
        time.sleep(0.05)
    return latencies


def run_config(stack: Stack, templates, images: int, processes: int, batch: int, wait_ms: int) -> dict:
    since = time.time()
    worker = stack.start_worker(
        concurrency=processes,
        env={"CLASSIFIER_BATCH_MAX_SIZE": str(batch), "CLASSIFIER_BATCH_MAX_WAIT_MS": str(wait_ms)},
        log_name=f"worker-p{processes}-b{batch}-w{wait_ms}",
    )
    try:
        statuses = stack.wait_for_workers(processes, since)
        time.sleep(1.0)  # the parent starts consuming just after the children load
        lone = lone_latency(templates)
        ids = make_rows(templates, images)
        published = time.time()
        publish(ids)
        wait_done(ids, timeout=max(120, images / 2))
        t = timings(ids)
    finally:
        stack.stop(worker)
    seconds = t["last_finished"] - published
    return {
        "processes": processes,
        "batch_max": batch,
        "wait_ms": wait_ms,
        "runtime": ",".join(sorted({s.runtime for s in statuses})),
        "images": images,
        "failed": t["failed"],
        "seconds": seconds,
        "images_per_s": images / seconds,
        "mean_batch": images / t["batches"],
        "lone_p50_ms": statistics.median(lone),
        "lone_p95_ms": percentile(lone, 95),
    }


def run_memory(stack: Stack, templates, total: int) -> dict:
    import psutil

    since = time.time()
    worker = stack.start_worker(concurrency=1, log_name="worker-memory")
    samples = []
    try:
        [status] = stack.wait_for_workers(1, since)
        child = psutil.Process(status.pid)
        time.sleep(1.0)
        first = make_rows(templates, 100)
        publish(first)
        wait_done(first, timeout=120)
        after_100 = child.memory_info().rss
        samples.append((100, after_100))
        rest = make_rows(templates, total - 100)
        publish(rest)
        step = max(1, (total - 100) // 10)
        next_sample = [step]

        def sample(finished: int) -> None:
            if finished >= next_sample[0]:
                samples.append((100 + finished, child.memory_info().rss))
                next_sample[0] += step

        wait_done(rest, timeout=max(300, total / 5), on_progress=sample)
        after_total = child.memory_info().rss
        samples.append((total, after_total))
    finally:
        stack.stop(worker)
    return {
        "pid": status.pid,
        "rss_after_100_mb": after_100 / 2**20,
        f"rss_after_{total}_mb": after_total / 2**20,
        "growth_percent": 100 * (after_total - after_100) / after_100,
        "samples": [{"classifications": n, "rss_mb": rss / 2**20} for n, rss in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="images per throughput configuration")
    parser.add_argument("--memory-images", type=int, default=5000)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    images, image_source = sample_images()
    configs = [(1, 1, 0), (1, 16, 0), (1, 16, 20)] + [(p, 16, 0) for p in map(int, args.processes.split(",")) if p != 1]
    with tempfile.TemporaryDirectory() as scratch:
        bundle = args.bundle or light_bundle(Path(scratch))
        with Stack(bundle=bundle, database=args.database) as stack:
            from classification.intake import submission

            templates = [submission.submit_image(data=data, original_name=f"template-{i}") for i, data in enumerate(images)]
            stack.purge_queue()
            results = []
            for processes, batch, wait_ms in configs:
                result = run_config(stack, templates, args.images, processes, batch, wait_ms)
                results.append(result)
                print(f"{processes} process(es), batch ≤ {batch}, wait {wait_ms} ms: {result['images_per_s']:.1f} images/s "
                      f"(mean batch {result['mean_batch']:.1f}), lone image {result['lone_p50_ms']:.1f} ms", flush=True)
            memory = None if args.skip_memory else run_memory(stack, templates, args.memory_images)

    table = print_table(
        f"Worker throughput ({image_source}, light model, {args.database})",
        ["processes", "batch ≤", "wait for more (ms)", "runtime", "images/s", "mean batch", "lone image p50 (ms)",
         "lone image p95 (ms)", "failed"],
        [[r["processes"], r["batch_max"], r["wait_ms"], r["runtime"], r["images_per_s"], r["mean_batch"],
          r["lone_p50_ms"], r["lone_p95_ms"], r["failed"]] for r in results],
    )
    tables = [table]
    targets = {}
    if memory:
        key = f"rss_after_{args.memory_images}_mb"
        tables.append(print_table(
            "Worker process memory (RSS)",
            ["after 100", f"after {args.memory_images}", "growth (target < 5 %)"],
            [[f"{memory['rss_after_100_mb']:.0f} MB", f"{memory[key]:.0f} MB", f"{memory['growth_percent']:.1f} %"]],
        ))
        targets["memory_growth_under_5_percent"] = {"growth_percent": memory["growth_percent"], "met": memory["growth_percent"] < 5}
    write_results("throughput", {"database": args.database, "images": image_source, "configurations": results,
                                 "memory": memory, "targets": targets}, tables)


if __name__ == "__main__":
    main()
