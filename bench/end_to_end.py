"""End-to-end latency: upload → result stored, and → result pushed on the websocket.

    .venv/bin/python -m bench.end_to_end [--clients 1,10,50] [--requests 40,20,8] [--database postgres|sqlite]

Starts an isolated service (bench/stack.py: daphne + one prefork worker
process, its own database, Redis DB and queue) with the light model (the demo
MobileNetV2 bundle, or a random-weights one of the same shape). Clients upload
the sample photos through the upload form (one photo a request, closed loop: a
client sends its next photo when the previous result was pushed) while one
live-feed websocket records when each result is pushed.

Reports, per number of concurrent clients, p50 and p95 of upload → stored
(the row's ``finished_at``) and upload → pushed, where the time goes (upload
answered, waiting in the queue, in the worker, push), the mean micro-batch
size, and the overhead over pure inference (the worker's model call for one
image, measured in this run; target ≤ 25 ms p50, ≤ 60 ms p95 at 10 clients).
Also the first request after a worker starts against the steady state
(target: within 1.2×). Writes bench/results/end_to_end.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import percentile, print_table, sample_images, time_calls, write_results
from bench.stack import Stack, light_bundle

PUSH_TIMEOUT_S = 30.0
# Where a request's time goes, between the timestamps a record holds.
PHASES = {"upload": ("sent", "answered"), "queued": ("answered", "started"), "worker": ("started", "finished"),
          "push": ("finished", "pushed")}


class LiveFeed:
    """One websocket on the live feed, noting when each classification's result arrives."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.arrived: dict[int, float] = {}
        self.error: Exception | None = None
        self._events: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._socket = connect(url.replace("http", "ws", 1) + "/ws/classifications/", origin=url, max_size=None)
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for raw in self._socket:
                now = time.time()
                message = json.loads(raw)
                if message.get("type") == "result":
                    self._event(message["classification"]["id"], now)
        except Exception as exc:  # closed: by close(), or by the server (then waits report it)
            self.error = exc

    def _event(self, pk: int, now: float | None = None) -> threading.Event:
        with self._lock:
            event = self._events.setdefault(pk, threading.Event())
            if now is not None and pk not in self.arrived:
                self.arrived[pk] = now
                event.set()
            return event

    def wait(self, pk: int, timeout: float) -> float | None:
        if self._event(pk).wait(timeout):
            return self.arrived[pk]
        if self.error is not None:
            raise RuntimeError(f"the live-feed websocket closed: {self.error!r}")
        return None

    def close(self) -> None:
        self._socket.close()


class Uploader:
    """One client: a session with the CSRF cookie, uploading one photo per request."""

    def __init__(self, url: str):
        import requests

        self.url = url
        self.session = requests.Session()
        self.session.get(url + "/", timeout=10).raise_for_status()
        self.token = self.session.cookies["csrftoken"]

    def upload(self, name: str, data: bytes) -> tuple[int, float, float]:
        """(classification id, sent at, answered at), wall-clock seconds."""
        sent = time.time()
        response = self.session.post(
            self.url + "/",
            files={"files": (name, data, "image/png" if data[:4] == b"\x89PNG" else "image/jpeg")},
            # The cookie by hand: with DEBUG off it is marked Secure, and this is plain HTTP on 127.0.0.1.
            headers={"X-CSRFToken": self.token, "Cookie": f"csrftoken={self.token}", "Accept": "application/json"},
            timeout=30,
        )
        answered = time.time()
        response.raise_for_status()
        return response.json()["accepted"][0]["id"], sent, answered


def run_level(url: str, feed: LiveFeed, images: list[bytes], clients: int, per_client: int, time_limit: float) -> list[dict]:
    deadline = time.monotonic() + time_limit
    uploaders = [Uploader(url) for _ in range(clients)]

    def client(index: int) -> list[dict]:
        records = []
        for n in range(per_client):
            if time.monotonic() > deadline:
                break
            data = images[(index * per_client + n) % len(images)]
            pk, sent, answered = uploaders[index].upload(f"bench-{index}-{n}.png", data)
            pushed = feed.wait(pk, PUSH_TIMEOUT_S)
            records.append({"id": pk, "sent": sent, "answered": answered, "pushed": pushed})
        return records

    with ThreadPoolExecutor(clients) as pool:
        records = [r for batch in pool.map(client, range(clients)) for r in batch]
    return with_server_times(records)


def with_server_times(records: list[dict]) -> list[dict]:
    from classification.models import Classification

    rows = {row.pk: row for row in Classification.objects.filter(pk__in=[r["id"] for r in records])}
    for record in records:
        row = rows[record["id"]]
        record.update(
            status=row.status,
            started=row.started_at.timestamp() if row.started_at else None,
            finished=row.finished_at.timestamp() if row.finished_at else None,
        )
    return records


def summarise(records: list[dict], inference_ms: float) -> dict:
    done = [r for r in records if r["status"] == "done" and r["finished"]]
    ms = lambda values: [1000 * v for v in values]  # noqa: E731
    stored = ms(r["finished"] - r["sent"] for r in done)
    pushed = ms(r["pushed"] - r["sent"] for r in done if r["pushed"])
    batches = {r["started"] for r in done}
    wall = max(r["pushed"] or r["finished"] for r in done) - min(r["sent"] for r in done) if done else float("nan")
    return {
        "requests": len(records),
        "done": len(done),
        "pushed": len(pushed),
        "stored_p50_ms": percentile(stored, 50),
        "stored_p95_ms": percentile(stored, 95),
        "pushed_p50_ms": percentile(pushed, 50),
        "pushed_p95_ms": percentile(pushed, 95),
        "upload_answered_p50_ms": percentile(ms(r["answered"] - r["sent"] for r in done), 50),
        "queued_p50_ms": percentile(ms(r["started"] - r["answered"] for r in done), 50),
        "worker_p50_ms": percentile(ms(r["finished"] - r["started"] for r in done), 50),
        "push_after_store_p50_ms": percentile(ms(r["pushed"] - r["finished"] for r in done if r["pushed"]), 50),
        "mean_batch": len(done) / len(batches) if batches else float("nan"),
        "throughput_per_s": len(done) / wall if done else float("nan"),
        "overhead_p50_ms": percentile(stored, 50) - inference_ms,
        "overhead_p95_ms": percentile(stored, 95) - inference_ms,
    }


def pure_inference(bundle: Path, images: list[bytes]) -> dict:
    """The worker's model call for one image, and its whole predict (decode + prepare + model), in ms."""
    import os

    from ml.predictor import Predictor
    from ml.preprocessing import prepare_batch

    predictor = Predictor.from_bundle(bundle, runtime="auto", threads=os.cpu_count())
    batch = prepare_batch(images[:1], predictor.metadata.input_size, predictor.metadata.preprocessing)
    return {
        "runtime": predictor.runtime_name,
        "selection": predictor.selection.summary(),
        "inference_ms": 1000 * time_calls(lambda: predictor.predict_array(batch), min_repeats=30, budget_s=2),
        "predict_ms": 1000 * time_calls(lambda: predictor.predict(images[:1]), min_repeats=30, budget_s=2),
    }


def first_request(stack: Stack, images: list[bytes], steady_requests: int, runs: int) -> dict:
    """Workers just started (web already warm): each one's first request against its next ones.

    One first request is one sample, so a fresh worker is started ``runs``
    times and the medians compared.
    """
    uploader = Uploader(stack.url)
    feed = LiveFeed(stack.url)
    firsts, steadies, phases = [], [], []
    try:
        for run in range(runs):
            since = time.time()
            worker = stack.start_worker(log_name=f"worker-first-{run}")
            stack.wait_for_workers(1, since)
            _wait_for_ready_line(Path(worker.log_path))
            records = []
            for n in range(1 + steady_requests):
                pk, sent, answered = uploader.upload(f"first-{run}-{n}.png", images[n % len(images)])
                records.append({"id": pk, "sent": sent, "answered": answered, "pushed": feed.wait(pk, PUSH_TIMEOUT_S)})
            records = with_server_times(records)
            stack.stop(worker)
            stored = [1000 * (r["finished"] - r["sent"]) for r in records]
            pushed = [1000 * (r["pushed"] - r["sent"]) for r in records]
            firsts.append((stored[0], pushed[0]))
            phases.append({name: [1000 * (records[i][end] - records[i][start]) for i in (0, 1)]
                           for name, (start, end) in PHASES.items()})
            steadies += list(zip(stored[1:], pushed[1:]))
    finally:
        feed.close()
    first_stored = statistics.median(s for s, _ in firsts)
    first_pushed = statistics.median(p for _, p in firsts)
    steady_stored = statistics.median(s for s, _ in steadies)
    steady_pushed = statistics.median(p for _, p in steadies)
    return {
        "runs": runs,
        "first_requests_ms": firsts,
        "first_and_second_by_phase_ms": phases,
        "first_stored_ms": first_stored,
        "steady_stored_p50_ms": steady_stored,
        "first_pushed_ms": first_pushed,
        "steady_pushed_p50_ms": steady_pushed,
        "ratio_stored": first_stored / steady_stored,
        "ratio_pushed": first_pushed / steady_pushed,
    }


def _wait_for_ready_line(log: Path, timeout: float = 60) -> None:
    """Celery's parent logs "ready." once it consumes; the child's status row comes earlier."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the worker never logged that it is ready; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--requests", default="40,20,8", help="requests per client, per level")
    parser.add_argument("--time-limit", type=float, default=90, help="seconds per level at most")
    parser.add_argument("--first-runs", type=int, default=5, help="fresh workers whose first request is timed")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service (repeatable)")
    args = parser.parse_args()
    levels = list(zip(map(int, args.clients.split(",")), map(int, args.requests.split(","))))

    import tempfile

    images, image_source = sample_images()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = args.bundle or light_bundle(Path(scratch))
        inference = pure_inference(bundle, images)
        print(f"Pure inference ({inference['selection']}): {inference['inference_ms']:.2f} ms a model call for one "
              f"image, {inference['predict_ms']:.2f} ms with decoding and preprocessing", flush=True)
        env = dict(item.split("=", 1) for item in args.env)
        with Stack(bundle=bundle, database=args.database, env=env) as stack:
            stack.start_web()
            warm = stack.start_worker(log_name="worker-warm-web")
            stack.wait_for_workers(1, time.time() - 300)
            warmup_feed = LiveFeed(stack.url)
            for n in range(5):  # the web process's first requests are not what this measures
                pk, *_ = Uploader(stack.url).upload(f"warm-{n}.png", images[n])
                warmup_feed.wait(pk, PUSH_TIMEOUT_S)
            warmup_feed.close()
            stack.stop(warm)

            first = first_request(stack, images, steady_requests=20, runs=args.first_runs)
            since = time.time()
            levels_worker = stack.start_worker(log_name="worker-levels")
            stack.wait_for_workers(1, since)
            _wait_for_ready_line(Path(levels_worker.log_path))
            print(f"First request after a worker start: {first['first_stored_ms']:.1f} ms stored "
                  f"({first['ratio_stored']:.2f}× steady), {first['first_pushed_ms']:.1f} ms pushed "
                  f"({first['ratio_pushed']:.2f}× steady)", flush=True)

            feed = LiveFeed(stack.url)
            levels_out = {}
            for clients, per_client in levels:
                records = run_level(stack.url, feed, images, clients, per_client, args.time_limit)
                levels_out[clients] = summarise(records, inference["inference_ms"])
                s = levels_out[clients]
                print(f"{clients} clients: stored p50 {s['stored_p50_ms']:.1f} / p95 {s['stored_p95_ms']:.1f} ms, "
                      f"pushed p50 {s['pushed_p50_ms']:.1f} / p95 {s['pushed_p95_ms']:.1f} ms, "
                      f"{s['throughput_per_s']:.1f}/s, mean batch {s['mean_batch']:.2f}", flush=True)
            feed.close()

    table = print_table(
        f"End to end, ms (light model, {inference['runtime']}, one worker process, {args.database}, {image_source})",
        ["clients", "requests", "stored p50", "stored p95", "pushed p50", "pushed p95", "upload answered p50",
         "queued p50", "in worker p50", "push after store p50", "mean batch", "results/s",
         "overhead p50", "overhead p95"],
        [[c, s["requests"], s["stored_p50_ms"], s["stored_p95_ms"], s["pushed_p50_ms"], s["pushed_p95_ms"],
          s["upload_answered_p50_ms"], s["queued_p50_ms"], s["worker_p50_ms"], s["push_after_store_p50_ms"],
          s["mean_batch"], s["throughput_per_s"], s["overhead_p50_ms"], s["overhead_p95_ms"]]
         for c, s in levels_out.items()],
    )
    first_table = print_table(
        f"First request after a worker start against the steady state, ms (median of {first['runs']} fresh workers)",
        ["", "first", "steady p50", "ratio (target ≤ 1.2)"],
        [["upload → stored", first["first_stored_ms"], first["steady_stored_p50_ms"], first["ratio_stored"]],
         ["upload → pushed", first["first_pushed_ms"], first["steady_pushed_p50_ms"], first["ratio_pushed"]]],
    )
    ten = levels_out.get(10)
    targets = {
        "first_request_within_1.2x": {"ratio_stored": first["ratio_stored"], "ratio_pushed": first["ratio_pushed"],
                                      "met": max(first["ratio_stored"], first["ratio_pushed"]) <= 1.2},
    }
    if ten:
        targets["overhead_at_10_clients"] = {
            "p50_ms": ten["overhead_p50_ms"], "p95_ms": ten["overhead_p95_ms"],
            "met": ten["overhead_p50_ms"] <= 25 and ten["overhead_p95_ms"] <= 60,
        }
    print(json.dumps(targets, indent=2))
    write_results(
        "end_to_end",
        {"database": args.database, "service_env": env, "images": image_source, "pure_inference": inference,
         "first_request": first, "levels": levels_out, "targets": targets},
        [table, first_table],
    )


if __name__ == "__main__":
    main()
