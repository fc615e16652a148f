"""End-to-end latency: upload → result stored, and → result pushed on the websocket.

    .venv/bin/python -m bench.end_to_end [--clients 1,10,50] [--requests 40,20,8] [--paced 10] [--rounds 3]
                                         [--worker-processes 2] [--database postgres|sqlite]

Starts an isolated service (bench/stack.py: the web process + one prefork worker
with the service's pool processes (two), its own database, Redis DB and queue)
with the light model (the demo MobileNetV2 bundle, or a random-weights one of
the same shape). Clients upload
the sample photos through the upload form (one photo a request) while one
live-feed websocket records when each result is pushed. ``--clients`` levels
run in a closed loop: a client sends its next photo as soon as the previous
result was pushed, the most load that many clients can make. ``--paced``
levels have each client send one photo every ``--pace-interval`` seconds
instead (people using the form at the same time), still waiting for each result.

Pure inference is measured in the same run two ways: the model call for one
image alone, and the model alone serving the same number of closed-loop
callers (one thread batching whatever waits, up to the worker's batch size;
no HTTP, storage, database or queue). The second is the like-for-like floor:
at 10 callers the model itself is busy most of the time (a paced level's
floor is the model alone with one caller: it finds the model idle). Overhead is
upload → stored minus that floor (target: ≤ 25 ms p50, ≤ 60 ms p95 at 10
clients); the overhead over the lone call is reported too. Each closed-loop
level runs ``--rounds`` times with the model alone measured again just before,
between and after the rounds: a round's saturation ratio is its results/s over
the model alone's around it (the cores' speed drifts within minutes on this
machine), and the level's is the median round's, with every round's shown.

Reports, per level, p50 and p95 of upload → stored (the row's
``finished_at``) and upload → pushed, where the time goes (upload answered,
waiting in the queue, in the worker, push), the mean micro-batch size, and the
CPU each process used per request (from /proc). Also the first request after
a worker start against the steady state (target: within 1.2×). Writes
bench/results/end_to_end.json.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import CpuMeter, percentile, print_table, sample_images, time_calls, write_results
from bench.stack import Stack, light_bundle
from ml.cores import default_pool_size

PUSH_TIMEOUT_S = 30.0
# Where a request's time goes, between the timestamps a record holds.
PHASES = {"upload": ("sent", "answered"), "queued": ("answered", "started"), "worker": ("started", "finished"),
          "push": ("finished", "pushed")}
CPU_ROLES = ("web", "worker", "postgres", "redis", "clients")


class LiveFeed:
    """One websocket on the live feed, noting when each classification's result arrives.

    Results are pushed only to their owner: the feed and every uploader share
    one visitor's browser session (:func:`visitor_cookies`).
    """

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.arrived: dict[int, float] = {}
        self.error: Exception | None = None
        self._events: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._socket = connect(url.replace("http", "ws", 1) + "/ws/classifications/", origin=url, max_size=None,
                               additional_headers={"Cookie": visitor_cookies(url)[1]})
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


@functools.lru_cache
def visitor_cookies(url: str) -> tuple[str, str]:
    """One browser session for the whole benchmark: (its CSRF token, its Cookie header)."""
    import requests

    page = requests.get(url + "/", timeout=10)
    page.raise_for_status()
    token = page.cookies["csrftoken"]
    return token, f"csrftoken={token}; sessionid={page.cookies['sessionid']}"


class Uploader:
    """One client: a kept-alive connection with the visitor's session and CSRF cookie, uploading one photo per request.

    Plain ``http.client`` with the form body put together by hand: the
    clients share the service's two cores, and ``requests`` cost them about
    twice the CPU per upload (its CPU is reported as the clients').
    """

    BOUNDARY = "bench-boundary-7d1f3a"

    def __init__(self, url: str):
        from urllib.parse import urlsplit

        self.url = url
        self.address = urlsplit(url)
        self.token, self.cookie = visitor_cookies(url)
        self.connection: http.client.HTTPConnection | None = None

    def upload(self, name: str, data: bytes) -> tuple[int, float, float]:
        """(classification id, sent at, answered at), wall-clock seconds."""
        content_type = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        body = b"".join([
            f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode(), data, f"\r\n--{self.BOUNDARY}--\r\n".encode(),
        ])
        headers = {"Content-Type": f"multipart/form-data; boundary={self.BOUNDARY}", "Accept": "application/json",
                   # The cookies by hand: the same visitor's, whichever connection sends them.
                   "X-CSRFToken": self.token, "Cookie": self.cookie, "Referer": self.url + "/"}
        sent = time.time()
        status, answer = self._post(body, headers)
        answered = time.time()
        if status >= 400:
            raise RuntimeError(f"upload answered {status}: {answer[:300]!r}")
        return json.loads(answer)["accepted"][0]["id"], sent, answered

    def _post(self, body: bytes, headers: dict) -> tuple[int, bytes]:
        try:
            return self._send(body, headers)
        except (ConnectionError, http.client.HTTPException):  # the server closed the kept-alive connection
            self.connection.close()
            self.connection = None
            return self._send(body, headers)

    def _send(self, body: bytes, headers: dict) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=30)
        self.connection.request("POST", "/", body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def upload_for(uploaders: list[Uploader], images: list[bytes], seconds: float, suffix: str) -> tuple[list[float], float]:
    """Each uploader sends photos back to back (not waiting for results) for ``seconds``, one thread each.

    Returns every upload's answer time (seconds) and the wall time the whole level took.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def client(index: int) -> None:
        mine, sent = [], 0
        while time.monotonic() < deadline:
            _, at, answered = uploaders[index].upload(f"{index}-{sent}{suffix}", images[(index + sent) % len(images)])
            mine.append(answered - at)
            sent += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(len(uploaders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.monotonic() - started


def run_level(url: str, feed: LiveFeed, images: list[bytes], clients: int, per_client: int, time_limit: float,
              interval: float | None = None) -> list[dict]:
    """Each client uploads up to ``per_client`` photos, each once the previous result was pushed;
    with ``interval``, also no sooner than that many seconds after its previous one (clients start spread out)."""
    deadline = time.monotonic() + time_limit
    uploaders = [Uploader(url) for _ in range(clients)]

    def client(index: int) -> list[dict]:
        records = []
        next_send = time.monotonic() + (interval * index / clients if interval else 0.0)
        for n in range(per_client):
            if interval:
                time.sleep(max(0.0, next_send - time.monotonic()))
                next_send += interval
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


def saturation_level(url: str, feed: LiveFeed, images: list[bytes], model: ModelAlone, roles: dict, clients: int,
                     per_client: int, time_limit: float, rounds: int, floor_seconds: float, inference: dict) -> dict:
    """A closed-loop level run ``rounds`` times, the model alone measured before, between and after them.

    Each round's saturation ratio is its results/s over the mean of the model
    alone's just before and just after it (same callers, same batch cap): the
    cores' speed drifts between minutes on this machine, so a ratio against a
    measurement taken minutes earlier says as much about the host as about the
    service. Latencies and CPU per request pool all rounds; results/s and the
    ratio are the median round's, with the range.
    """
    floors = [model.under_load(clients, floor_seconds)]
    records, cpu, spells = [], {}, []
    for _ in range(rounds):
        meter = CpuMeter(roles)
        spell = run_level(url, feed, images, clients, per_client, time_limit)
        for role, seconds in meter.seconds().items():
            cpu[role] = cpu.get(role, 0.0) + seconds
        floors.append(model.under_load(clients, floor_seconds))
        alone = statistics.mean(floor["per_s"] for floor in floors[-2:])
        per_s = results_per_s(spell)
        spells.append({"results_per_s": per_s, "model_alone_before_per_s": floors[-2]["per_s"],
                       "model_alone_after_per_s": floors[-1]["per_s"], "ratio": per_s / alone})
        records += spell
    s = summarise(records, inference["inference_ms"], inference["under_load"][clients], cpu)
    median = sorted(spells, key=lambda spell: spell["ratio"])[len(spells) // 2]
    return {**s, "rounds": spells, "throughput_per_s": median["results_per_s"],
            "model_alone_per_s": statistics.mean([median["model_alone_before_per_s"], median["model_alone_after_per_s"]]),
            "saturation_ratio": median["ratio"], "saturation_ratio_min": min(spell["ratio"] for spell in spells),
            "saturation_ratio_max": max(spell["ratio"] for spell in spells)}


def with_server_times(records: list[dict]) -> list[dict]:
    from classification.models import Classification

    rows = {str(row.public_id): row for row in Classification.objects.filter(public_id__in=[r["id"] for r in records])}
    for record in records:
        row = rows[record["id"]]
        record.update(
            status=row.status,
            started=row.started_at.timestamp() if row.started_at else None,
            finished=row.finished_at.timestamp() if row.finished_at else None,
        )
    return records


def results_per_s(records: list[dict]) -> float:
    """Results stored over the time from the first upload sent to the last result pushed (or stored)."""
    done = [r for r in records if r["status"] == "done" and r["finished"]]
    if not done:
        return float("nan")
    return len(done) / (max(r["pushed"] or r["finished"] for r in done) - min(r["sent"] for r in done))


def summarise(records: list[dict], inference_ms: float, floor: dict, cpu_seconds: dict[str, float]) -> dict:
    """``floor``: the model alone serving as many closed-loop callers (p50/p95 ms)."""
    done = [r for r in records if r["status"] == "done" and r["finished"]]
    ms = lambda values: [1000 * v for v in values]  # noqa: E731
    stored = ms(r["finished"] - r["sent"] for r in done)
    pushed = ms(r["pushed"] - r["sent"] for r in done if r["pushed"])
    batches = {r["started"] for r in done}
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
        "throughput_per_s": results_per_s(records),
        # Saturation: what the whole service delivers against the model alone serving as many callers.
        "model_alone_per_s": floor["per_s"],
        "saturation_ratio": results_per_s(records) / floor["per_s"],
        "pure_inference_same_load_p50_ms": floor["p50_ms"],
        "pure_inference_same_load_p95_ms": floor["p95_ms"],
        "overhead_p50_ms": percentile(stored, 50) - floor["p50_ms"],
        "overhead_p95_ms": percentile(stored, 95) - floor["p95_ms"],
        "overhead_over_one_call_p50_ms": percentile(stored, 50) - inference_ms,
        "overhead_over_one_call_p95_ms": percentile(stored, 95) - inference_ms,
        "cpu_ms_per_request": {role: 1000 * cpu_seconds.get(role, 0.0) / max(1, len(records)) for role in CPU_ROLES},
    }


def pure_inference(model: ModelAlone, images: list[bytes], callers: list[int]) -> dict:
    """The worker's model call for one image alone, its whole predict (decode + prepare + model),
    and the model alone serving each number of closed-loop callers, in ms."""
    predictor = model.predictor
    return {
        "runtime": predictor.runtime_name,
        "selection": predictor.selection.summary(),
        "inference_ms": 1000 * time_calls(lambda: predictor.predict_array(model.arrays[0]), min_repeats=30, budget_s=2),
        "predict_ms": 1000 * time_calls(lambda: predictor.predict(images[:1]), min_repeats=30, budget_s=2),
        "under_load": {n: model.under_load(n) for n in sorted(set(callers))},
    }


class ModelAlone:
    """The light model in this process, as a worker loads it, for measuring it alone whenever needed.

    A run measures it again around each saturation level (:func:`saturation_level`): this virtual
    machine's cores run faster or slower with what its host does, within minutes.
    """

    def __init__(self, bundle: Path, images: list[bytes], max_batch: int):
        from ml.predictor import Predictor
        from ml.preprocessing import prepare_batch

        self.predictor = Predictor.from_bundle(bundle, runtime="auto", threads=os.cpu_count())
        size, mode = self.predictor.metadata.input_size, self.predictor.metadata.preprocessing
        self.arrays = [prepare_batch([image], size, mode) for image in images]
        self.max_batch = max_batch

    def under_load(self, callers: int, seconds: float = 3.0) -> dict:
        return model_alone_under_load(self.predictor, self.arrays, callers, self.max_batch, seconds)


def model_alone_under_load(predictor, arrays: list, callers: int, max_batch: int, seconds: float = 3.0) -> dict:
    """The model serving ``callers`` closed-loop callers with nothing else around it.

    One model thread takes whatever requests wait (up to ``max_batch``, as a
    worker's micro-batch does) and answers them with one call; each caller
    sends its next prepared image when the previous answer came. No service
    running this model on this machine can answer that many clients faster.
    """
    import numpy as np

    waiting: queue.Queue = queue.Queue()
    stop_at = time.monotonic() + seconds

    def model_loop() -> None:
        while True:
            batch = [waiting.get()]
            while len(batch) < max_batch:
                try:
                    batch.append(waiting.get_nowait())
                except queue.Empty:
                    break
            requests = [item for item in batch if item is not None]
            if requests:
                predictor.predict_array(np.concatenate([array for array, _ in requests]))
                for _, answered in requests:
                    answered.set()
            if len(requests) < len(batch):  # the end-of-run marker
                return

    def caller(index: int) -> list[float]:
        latencies = []
        while time.monotonic() < stop_at:
            answered = threading.Event()
            started = time.perf_counter()
            waiting.put((arrays[(index + len(latencies)) % len(arrays)], answered))
            answered.wait()
            latencies.append(1000 * (time.perf_counter() - started))
        return latencies

    model = threading.Thread(target=model_loop, daemon=True)
    cpu_before = time.process_time()  # this process: the model's threads (and the callers')
    model.start()
    began = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        latencies = [ms for each in pool.map(caller, range(callers)) for ms in each]
    wall = time.perf_counter() - began
    waiting.put(None)
    model.join()
    return {"requests": len(latencies), "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "per_s": len(latencies) / wall,
            "cpu_ms_per_image": 1000 * (time.process_time() - cpu_before) / max(1, len(latencies))}


def first_request(stack: Stack, images: list[bytes], steady_requests: int, runs: int) -> dict:
    """Workers just started (web already warm): each one's first request against its next ones.

    One first request is one sample, so a fresh worker is started ``runs``
    times and the medians compared. The first request also follows an idle
    spell (the seconds the worker took to start), and any request after one
    is slower than back-to-back ones (cold caches, idle cores), so each run
    ends with one more request after the same idle spell, to the same warm
    worker: first / that one is what a fresh worker adds.
    """
    uploader = Uploader(stack.url)
    feed = LiveFeed(stack.url)
    firsts, steadies, after_pauses, phases = [], [], [], []

    def upload(name: str, image: bytes) -> dict:
        pk, sent, answered = uploader.upload(name, image)
        return {"id": pk, "sent": sent, "answered": answered, "pushed": feed.wait(pk, PUSH_TIMEOUT_S)}

    last_activity = time.time()
    try:
        for run in range(runs):
            since = time.time()
            worker = stack.start_worker(log_name=f"worker-first-{run}")
            stack.wait_for_workers(1, since)
            _wait_for_ready_line(Path(worker.log_path))
            records = [upload(f"first-{run}-{n}.png", images[n % len(images)]) for n in range(1 + steady_requests)]
            idle = records[0]["sent"] - last_activity
            time.sleep(idle)
            records.append(upload(f"first-{run}-after-pause.png", images[0]))
            last_activity = time.time()
            records = with_server_times(records)
            stack.stop(worker)
            stored = [1000 * (r["finished"] - r["sent"]) for r in records]
            pushed = [1000 * (r["pushed"] - r["sent"]) for r in records]
            firsts.append((stored[0], pushed[0]))
            after_pauses.append((stored[-1], pushed[-1]))
            phases.append({name: [1000 * (records[i][end] - records[i][start]) for i in (0, 1, -1)]
                           for name, (start, end) in PHASES.items()})
            steadies += list(zip(stored[1:-1], pushed[1:-1]))
    finally:
        feed.close()
    median = lambda pairs, i: statistics.median(pair[i] for pair in pairs)  # noqa: E731
    return {
        "runs": runs,
        "first_requests_ms": firsts,
        "after_pause_requests_ms": after_pauses,
        "first_second_and_after_pause_by_phase_ms": phases,
        "first_stored_ms": median(firsts, 0),
        "first_pushed_ms": median(firsts, 1),
        "steady_stored_p50_ms": median(steadies, 0),
        "steady_pushed_p50_ms": median(steadies, 1),
        "after_pause_stored_ms": median(after_pauses, 0),
        "after_pause_pushed_ms": median(after_pauses, 1),
        "ratio_stored": median(firsts, 0) / median(steadies, 0),
        "ratio_pushed": median(firsts, 1) / median(steadies, 1),
        "ratio_stored_same_pause": median(firsts, 0) / median(after_pauses, 0),
        "ratio_pushed_same_pause": median(firsts, 1) / median(after_pauses, 1),
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
    parser.add_argument("--clients", default="1,10,50", help="closed-loop levels: concurrent clients")
    parser.add_argument("--requests", default="40,20,8", help="requests per client, per closed-loop level")
    parser.add_argument("--paced", default="10", help="paced levels: concurrent clients ('' for none)")
    parser.add_argument("--pace-interval", type=float, default=1.0, help="seconds between a paced client's uploads")
    parser.add_argument("--paced-requests", type=int, default=20, help="requests per client, per paced level")
    parser.add_argument("--time-limit", type=float, default=90, help="seconds per level at most")
    parser.add_argument("--first-runs", type=int, default=9, help="fresh workers whose first request is timed (0: none)")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--server", default="serve", help="the web server (bench.stack.SERVERS)")
    parser.add_argument("--worker-processes", type=int, default=default_pool_size(),
                        help="the measured worker's pool processes (each gets cores // processes model threads); "
                             "default: the service's (ml.cores.default_pool_size)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each closed-loop level, for its saturation ratio")
    parser.add_argument("--floor-seconds", type=float, default=4.0,
                        help="the model alone's measurement before, between and after a level's rounds")
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service (repeatable)")
    args = parser.parse_args()
    levels = [(clients, per_client, None)
              for clients, per_client in zip(map(int, args.clients.split(",")), map(int, args.requests.split(",")))]
    levels += [(int(clients), args.paced_requests, args.pace_interval) for clients in filter(None, args.paced.split(","))]

    import tempfile

    from django.conf import settings as django_settings

    images, image_source = sample_images()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = args.bundle or light_bundle(Path(scratch))
        env = dict(item.split("=", 1) for item in args.env)
        with Stack(bundle=bundle, database=args.database, env=env) as stack:
            max_batch = django_settings.CLASSIFIER_BATCH_MAX_SIZE
            # A paced client finds the model idle: its floor is the model alone with one caller.
            floors = {(clients, interval): 1 if interval else clients for clients, _, interval in levels}
            model = ModelAlone(bundle, images, max_batch)
            inference = pure_inference(model, images, list(floors.values()))
            print(f"Pure inference ({inference['selection']}): {inference['inference_ms']:.2f} ms a model call for one "
                  f"image, {inference['predict_ms']:.2f} ms with decoding and preprocessing; the model alone at "
                  + ", ".join(f"{n} callers {r['p50_ms']:.1f} / {r['p95_ms']:.1f} ms p50 / p95"
                              for n, r in inference["under_load"].items()), flush=True)
            stack.start_web(args.server)
            warm = stack.start_worker(log_name="worker-warm-web")
            stack.wait_for_workers(1, time.time() - 300)
            warmup_feed = LiveFeed(stack.url)
            for n in range(5):  # the web process's first requests are not what this measures
                pk, *_ = Uploader(stack.url).upload(f"warm-{n}.png", images[n])
                warmup_feed.wait(pk, PUSH_TIMEOUT_S)
            warmup_feed.close()
            stack.stop(warm)

            first = first_request(stack, images, steady_requests=20, runs=args.first_runs) if args.first_runs else None
            since = time.time()
            levels_worker = stack.start_worker(args.worker_processes, log_name="worker-levels")
            stack.wait_for_workers(args.worker_processes, since)
            _wait_for_ready_line(Path(levels_worker.log_path))
            if first:
                print(f"First request after a worker start: {first['first_stored_ms']:.1f} ms stored "
                      f"({first['ratio_stored']:.2f}× steady), {first['first_pushed_ms']:.1f} ms pushed "
                      f"({first['ratio_pushed']:.2f}× steady)", flush=True)

            roles = {"web": [p.pid for p in stack.processes if p is not levels_worker], "worker": [levels_worker.pid]}
            feed = LiveFeed(stack.url)
            levels_out = {}
            for clients, per_client, interval in levels:
                name = f"{clients} paced" if interval else str(clients)
                load_before = os.getloadavg()[0]
                if interval:  # people at the form: latency, once
                    meter = CpuMeter(roles)
                    records = run_level(stack.url, feed, images, clients, per_client, args.time_limit, interval)
                    s = summarise(records, inference["inference_ms"], inference["under_load"][1], meter.seconds())
                else:
                    s = saturation_level(stack.url, feed, images, model, roles, clients, per_client, args.time_limit,
                                         args.rounds, args.floor_seconds, inference)
                levels_out[name] = {"clients": clients, "pace_interval_s": interval, "load_average_before": load_before,
                                    **s}
                print(f"{name} clients: stored p50 {s['stored_p50_ms']:.1f} / p95 {s['stored_p95_ms']:.1f} ms, "
                      f"pushed p50 {s['pushed_p50_ms']:.1f} / p95 {s['pushed_p95_ms']:.1f} ms, "
                      f"{s['throughput_per_s']:.1f}/s ({s['saturation_ratio']:.2f} of the model alone), "
                      f"mean batch {s['mean_batch']:.2f}", flush=True)
            feed.close()

    def load(name: str, level: dict) -> str:
        return f"{level['clients']}, one photo / {level['pace_interval_s']:g} s each" if level["pace_interval_s"] else f"{level['clients']}, closed loop"

    table = print_table(
        f"End to end, ms (light model, {inference['runtime']}, one worker process, {args.server}, {args.database}, "
        f"{image_source})",
        ["clients", "requests", "stored p50", "stored p95", "pushed p50", "pushed p95", "model alone, same callers p50",
         "p95", "overhead p50", "overhead p95", "overhead over one call p50", "p95", "results/s", "mean batch"],
        [[load(name, s), s["requests"], s["stored_p50_ms"], s["stored_p95_ms"], s["pushed_p50_ms"], s["pushed_p95_ms"],
          s["pure_inference_same_load_p50_ms"], s["pure_inference_same_load_p95_ms"], s["overhead_p50_ms"],
          s["overhead_p95_ms"], s["overhead_over_one_call_p50_ms"], s["overhead_over_one_call_p95_ms"],
          s["throughput_per_s"], s["mean_batch"]] for name, s in levels_out.items()],
    )
    saturation_table = print_table(
        "Saturation: results/s of the whole service against the model alone serving as many closed-loop callers, "
        "measured just before and after each round (median round)",
        ["clients", "load average before", "results/s", "model alone, same callers, results/s", "ratio (target ≥ 0.5)",
         "ratio, each round", "stored p50", "stored p95", *(f"CPU {role}" for role in CPU_ROLES)],
        [[load(name, s), s["load_average_before"], s["throughput_per_s"], s["model_alone_per_s"], s["saturation_ratio"],
          " / ".join(f"{spell['ratio']:.2f}" for spell in s["rounds"]),
          s["stored_p50_ms"], s["stored_p95_ms"], *(s["cpu_ms_per_request"][role] for role in CPU_ROLES)]
         for name, s in levels_out.items() if not s["pace_interval_s"]],
    )
    phases_table = print_table(
        "Where the time goes, p50 ms, and CPU used per request, ms (all processes share the 2 cores)",
        ["clients", "upload answered", "queued", "in worker", "push after store",
         *(f"CPU {role}" for role in CPU_ROLES), "CPU total"],
        [[load(name, s), s["upload_answered_p50_ms"], s["queued_p50_ms"], s["worker_p50_ms"],
          s["push_after_store_p50_ms"], *(s["cpu_ms_per_request"][role] for role in CPU_ROLES),
          sum(s["cpu_ms_per_request"].values())] for name, s in levels_out.items()],
    )
    tables, targets = [table, saturation_table, phases_table], {}
    if first:  # --first-runs 0 leaves it out
        tables.append(print_table(
            f"First request after a worker start against the steady state, ms (median of {first['runs']} fresh "
            "workers)",
            ["", "first", "steady p50 (back to back)", "ratio", "same worker after the same idle spell",
             "ratio (target ≤ 1.2)"],
            [["upload → stored", first["first_stored_ms"], first["steady_stored_p50_ms"], first["ratio_stored"],
              first["after_pause_stored_ms"], first["ratio_stored_same_pause"]],
             ["upload → pushed", first["first_pushed_ms"], first["steady_pushed_p50_ms"], first["ratio_pushed"],
              first["after_pause_pushed_ms"], first["ratio_pushed_same_pause"]]],
        ))
        targets["first_request_within_1.2x"] = {
            "ratio_stored": first["ratio_stored_same_pause"], "ratio_pushed": first["ratio_pushed_same_pause"],
            "met": max(first["ratio_stored_same_pause"], first["ratio_pushed_same_pause"]) <= 1.2,
            "against_back_to_back": {"ratio_stored": first["ratio_stored"], "ratio_pushed": first["ratio_pushed"]},
        }
    for name, s in levels_out.items():
        if s["clients"] in (10, 50) and not s["pace_interval_s"]:
            targets[f"saturation_at_{s['clients']}_clients"] = {
                "results_per_s": s["throughput_per_s"], "model_alone_per_s": s["model_alone_per_s"],
                "ratio": s["saturation_ratio"], "met": s["saturation_ratio"] >= 0.5,
                "ratio_each_round": [spell["ratio"] for spell in s["rounds"]],
                "met_every_round": s["saturation_ratio_min"] >= 0.5,
            }
        if s["clients"] == 10:
            targets[f"overhead_at_{name.replace(' ', '_')}_clients"] = {
                "p50_ms": s["overhead_p50_ms"], "p95_ms": s["overhead_p95_ms"],
                "met": s["overhead_p50_ms"] <= 25 and s["overhead_p95_ms"] <= 60,
                "over_one_call_p50_ms": s["overhead_over_one_call_p50_ms"],
                "over_one_call_p95_ms": s["overhead_over_one_call_p95_ms"],
                "met_over_one_call": s["overhead_over_one_call_p50_ms"] <= 25 and s["overhead_over_one_call_p95_ms"] <= 60,
            }
    print(json.dumps(targets, indent=2))
    write_results(
        "end_to_end",
        {"database": args.database, "server": args.server, "service_env": env, "images": image_source,
         "pure_inference": inference, "first_request": first, "levels": levels_out, "targets": targets},
        tables,
    )


if __name__ == "__main__":
    main()
