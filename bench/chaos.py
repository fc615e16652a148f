"""Chaos: clients upload without pause while workers, Redis and PostgreSQL connections are killed under them.

    .venv/bin/python -m bench.chaos [--seconds 600] [--clients 2] [--pace 1.0] [--fault-gap 20] [--bundle DIR]

Starts an isolated service (bench/stack.py: the web process, a prefork classify worker
kept running by a supervisor, the sweeper's worker with beat, its own
PostgreSQL database) on a Redis server of its own (own port, no
persistence). For ``--seconds`` (10 minutes by default), ``--clients``
clients of each kind (upload form with a signed-in session, API with a
token, webcam websocket) upload one image every ``--pace`` seconds (± half),
while every ``--fault-gap`` seconds (± half) one fault happens, the kinds in
a shuffled cycle: SIGKILL of a pool process, SIGKILL of the worker parent
(the supervisor starts a new one), a Redis restart (killed, down 1–5 s,
started empty), ``pg_terminate_backend`` of all the service's database
connections (bench/chaos_faults.py).

Then the clients stop, and after a drain (until every accepted image has
finished, at most ``--drain`` seconds) it checks each accepted image:

* lost: accepted (a 202, a socket's ``accepted``) but not finished;
* finished twice: a PostgreSQL trigger logs every update that finishes a row
  (and every rewrite of a finished row's ``finished_at``), so a row finished
  by two workers, or finished, re-queued and finished again, is logged twice;
  independently, a webcam socket sent two different results for one frame
  (the same result sent twice is allowed: the socket answers from the
  database when a push is late, and the push may still come);
* 5xx: HTTP answers ≥ 500, sockets closed by a server error (1011), frames
  refused as ``unavailable``;
* time to recover after each fault: from the fault until the service serves
  again, i.e. the first classification begun after it has finished; also
  until the first image uploaded after it finished (which includes working
  off what queued up meanwhile);
* longest wait: upload to finished, over every image.

Targets: 0 lost, 0 finished twice, 0 5xx, every recovery ≤ 60 s. Prints a
table and writes bench/results/chaos.json (``--results-name``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.chaos_clients import ApiClient, FormClient, Tally, WebcamClient, test_images
from bench.chaos_faults import BENCH_APPLICATION_NAME, FaultInjector, FinishAudit, PrivateRedis, Supervisor
from bench.common import percentile, print_table, write_results
from bench.stack import Stack, _free_port, light_bundle

KINDS = ("form", "api", "webcam")
RECOVERY_TARGET_S = 60.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long clients upload under faults")
    parser.add_argument("--clients", type=int, default=2, help="clients of each kind")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between a client's uploads (± half)")
    parser.add_argument("--fault-gap", type=float, default=20.0, help="seconds between faults (± half)")
    parser.add_argument("--drain", type=float, default=300.0, help="longest wait for the last images to finish")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes of the classify worker")
    parser.add_argument("--sweep-interval", type=float, help="CLASSIFIER_SWEEP_INTERVAL_SECONDS (default: the service's)")
    parser.add_argument("--stuck-after", type=int, help="CLASSIFIER_STUCK_AFTER_SECONDS (default: the service's)")
    parser.add_argument("--bundle", type=Path, help="model bundle (default: the demo model)")
    parser.add_argument("--faults", default=",".join(FaultInjector.KINDS),
                        help="the fault kinds to cycle through, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-name", default="chaos")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default bench/results/)")
    return parser.parse_args(argv)


def service_env(args, redis: PrivateRedis) -> dict[str, str]:
    env = {
        "REDIS_URL": redis.url,
        # Every client comes from 127.0.0.1 and signs in as one of a few users: the service's own limits
        # would refuse the load itself.
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_UPLOADS": "1000000/min",
    }
    if args.sweep_interval is not None:
        env["CLASSIFIER_SWEEP_INTERVAL_SECONDS"] = str(args.sweep_interval)
    if args.stuck_after is not None:
        env["CLASSIFIER_STUCK_AFTER_SECONDS"] = str(args.stuck_after)
    return env


def start_sweeper(stack: Stack):
    """The sweeper's worker, running beat, as scripts/run.sh starts it (its own queue, one process)."""
    return stack.start_worker(
        log_name="sweeper", hostname=f"sweeper-{stack.id}@%h", queues=stack.env["CELERY_QUEUE"] + "-sweeper",
        pool="solo", extra_args=["-B", f"--schedule={stack.var_dir / 'celerybeat-schedule'}"],
    )


def make_clients(args, url: str, tally: Tally, stop: threading.Event) -> list:
    from django.contrib.auth import get_user_model

    from classification.accounts.tokens import create_token

    images = test_images(seed=args.seed)
    clients, seed = [], args.seed * 1000
    users = get_user_model().objects
    for index in range(args.clients):
        common = {"url": url, "tally": tally, "images": images, "pace_s": args.pace, "stop": stop}
        password = f"chaos-password-{index}"
        users.create_user(f"form-{index}", password=password)
        clients.append(FormClient(**common, seed=(seed := seed + 1), username=f"form-{index}", password=password))
        _, key = create_token(users.create_user(f"api-{index}"), "chaos benchmark")
        clients.append(ApiClient(**common, seed=(seed := seed + 1), token=key))
        clients.append(WebcamClient(**common, seed=(seed := seed + 1)))
    return clients


def drain(accepted: set[str], timeout: float) -> float:
    """Wait until every accepted image has finished (or ``timeout``); returns the seconds waited."""
    from classification.models import Classification

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        unfinished = Classification.objects.filter(public_id__in=accepted).exclude(status__in=("done", "failed"))
        if not unfinished.exists():
            break
        time.sleep(1.0)
    return time.monotonic() - began


def run(args) -> dict:
    redis = PrivateRedis(_free_port())
    redis.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            bundle = args.bundle or light_bundle(Path(scratch))
            stack = Stack(bundle=bundle, env=service_env(args, redis))
            os.environ["PGAPPNAME"] = BENCH_APPLICATION_NAME  # this process's sessions only: never terminated
            with stack:
                return run_on(stack, redis, args)
    finally:
        redis.stop()


def run_on(stack: Stack, redis: PrivateRedis, args) -> dict:
    from classification.models import Classification

    audit = FinishAudit(Classification._meta.db_table)
    audit.install()
    tally, stop = Tally(), threading.Event()
    clients = make_clients(args, stack.start_web(), tally, stop)
    start_sweeper(stack)
    since = time.time()
    supervisor = Supervisor(start=lambda: stack.start_worker(concurrency=args.concurrency, log_name="classify"),
                            stop=stack.stop)
    faults = FaultInjector(supervisor, redis, stack.db_name, args.fault_gap, seed=args.seed,
                           kinds=tuple(args.faults.split(",")))
    try:
        stack.wait_for_workers(args.concurrency, since)
        print(f"Service up; {len(clients)} clients upload for {args.seconds:.0f} s under faults", flush=True)
        began = time.time()
        for client in clients:
            client.start()
        faults.start()
        time.sleep(args.seconds)
    finally:
        faults.stop()
        stop.set()
        for client in clients:
            if client.is_alive():
                client.join(timeout=90)
    load_ended = time.time()
    try:
        accepted = {public_id for kind in tally.accepted.values() for public_id in kind}
        print(f"Load over: {len(accepted)} images accepted; draining", flush=True)
        drained_s = drain(accepted, args.drain)
        rows = {str(row["public_id"]): row for row in Classification.objects.values(
            "id", "public_id", "status", "created_at", "started_at", "finished_at", "error_message", "attempts")}
        finishes = audit.finishes()
    finally:
        supervisor.halt()
    return summarize(args, tally, rows, finishes, faults, supervisor, began=began, load_ended=load_ended,
                     drained_s=drained_s)


def summarize(args, tally: Tally, rows: dict, finishes: dict[int, int], faults: FaultInjector, supervisor,
              *, began: float, load_ended: float, drained_s: float) -> dict:
    accepted = {kind: set(tally.accepted.get(kind, {})) for kind in KINDS}
    everything = set().union(*accepted.values())
    status = {public_id: rows[public_id]["status"] if public_id in rows else "missing" for public_id in everything}
    finished_rows = [row for row in rows.values() if row["finished_at"] is not None]
    waits = [(row["finished_at"] - row["created_at"]).total_seconds() for row in finished_rows]
    recoveries = recovery_times(faults, rows.values(), end=load_ended + drained_s)
    failed_reasons: dict[str, int] = {}
    for row in rows.values():
        if row["status"] == "failed":
            failed_reasons[row["error_message"][:120]] = failed_reasons.get(row["error_message"][:120], 0) + 1
    server_errors = {kind: tally.server_errors(kind) for kind in KINDS}
    worst_recovery = max((seconds for _, seconds, _, _ in recoveries), default=0.0)
    return {
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "load_seconds": load_ended - began,
        "drained_s": drained_s,
        "accepted": {kind: len(ids) for kind, ids in accepted.items()} | {"total": len(everything)},
        "finished": sum(value == "done" for value in status.values()),
        "failed": sum(value == "failed" for value in status.values()),
        "failed_reasons": failed_reasons,
        "lost": sorted(public_id for public_id, value in status.items() if value not in ("done", "failed")),
        "rows_never_acknowledged": len(set(rows) - everything),
        "rows_unfinished": sum(row["status"] not in ("done", "failed") for row in rows.values()),
        "finished_twice": sorted(pk for pk, count in finishes.items() if count > 1),
        "pushed_differently": sorted(public_id for public_id, results in tally.pushes.items() if len(results) > 1),
        "webcam_results_pushed": len(accepted["webcam"] & set(tally.pushes)),
        "server_errors": server_errors | {"total": sum(server_errors.values())},
        "outcomes": {kind: dict(tally.statuses.get(kind, {})) for kind in KINDS},
        "client_errors": {kind: dict(tally.errors.get(kind, {})) for kind in KINDS},
        "recoveries": [{"kind": fault.kind, "at_s": fault.at - began, "detail": fault.detail, "recovered_s": seconds,
                        "recovered": recovered, "new_upload_finished_s": upload_s}
                       for fault, seconds, recovered, upload_s in recoveries],
        "longest_recovery_s": worst_recovery,
        "longest_wait_s": max(waits, default=0.0),
        "wait_p50_s": percentile(waits, 50),
        "wait_p95_s": percentile(waits, 95),
        "faults": faults.counts(),
        "faults_skipped": faults.skipped,
        "worker_restarts": supervisor.restarts,
        # Exits nobody caused: the worker must ride out Redis and database faults, not die of them.
        "worker_exits_unprovoked": supervisor.restarts - faults.counts()["worker_parent"],
    }


def recovery_times(faults: FaultInjector, rows, end: float) -> list[tuple]:
    """Per fault: (fault, seconds until it served again, whether it did, seconds until a new upload finished).

    Served again: the first classification begun (claimed) after the fault
    has finished, so work a process had under way when the fault came does
    not count. A new upload finished: the first image uploaded after the
    fault has finished, which includes working off the images that queued up
    meanwhile (first in, first out). When nothing did, the seconds run to
    ``end`` (the end of the drain).
    """
    done = [(row["created_at"].timestamp(), row["started_at"].timestamp(), row["finished_at"].timestamp())
            for row in rows if row["status"] == "done" and row["started_at"] is not None]
    result = []
    for fault in faults.faults:
        begun_after = [finished for _, started, finished in done if started > fault.at]
        uploaded_after = [finished for created, _, finished in done if created > fault.at]
        result.append((fault, (min(begun_after) if begun_after else end) - fault.at, bool(begun_after),
                       (min(uploaded_after) if uploaded_after else end) - fault.at))
    return result


def report(summary: dict) -> tuple[str, dict]:
    lost, twice = len(summary["lost"]), len(summary["finished_twice"]) + len(summary["pushed_differently"])
    errors, recovery = summary["server_errors"]["total"], summary["longest_recovery_s"]
    targets = {"0_lost": lost == 0, "0_finished_twice": twice == 0, "0_5xx": errors == 0,
               "recovery_within_60_s": recovery <= RECOVERY_TARGET_S}
    accepted = summary["accepted"]
    table = print_table(
        f"Chaos: {summary['load_seconds']:.0f} s of uploads under "
        + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in summary["faults"].items()) + " faults",
        ["accepted (form / api / webcam)", "finished", "failed", "lost", "finished twice", "5xx",
         "longest recovery (s)", "new upload finished, worst (s)", "longest wait (s)", "wait p50 (s)"],
        [[f"{accepted['total']} ({accepted['form']} / {accepted['api']} / {accepted['webcam']})",
          summary["finished"], summary["failed"], lost, twice, errors, recovery,
          max((entry["new_upload_finished_s"] for entry in summary["recoveries"]), default=0.0),
          summary["longest_wait_s"], summary["wait_p50_s"]]],
    )
    print(f"  webcam frames whose result was pushed to their socket: {summary['webcam_results_pushed']}"
          f" of {accepted['webcam']}; images failed: {summary['failed']} {summary['failed_reasons'] or ''}")
    for name, met in targets.items():
        print(f"  {name}: {'met' if met else 'NOT met'}")
    return table, targets


def main(argv=None) -> dict:
    args = parse_args(argv)
    summary = run(args)
    table, targets = report(summary)
    write_results(args.results_name, {**summary, "targets": targets}, [table], directory=args.results_dir)
    return summary


if __name__ == "__main__":
    main()
