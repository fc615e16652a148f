"""Scaling the classify worker under a backlog, as ``docker compose up --scale worker=N`` does: no row lost.

Usage: ``python -m bench.worker_scaling [--backlog 2000] [--phase-seconds 4] [--uploaders 4]``.

An isolated service (bench/stack.py: the web process, the sweeper's worker with beat,
its own PostgreSQL database, the demo model compiled once) whose classify
workers run as compose runs the ``worker`` service: each one a separate
``celery worker`` with one pool process (compose's default was one when this was
measured; it is two now) and a node name of its own
(``classify@%h`` in compose, where every container has its own host name),
with Celery's gossip and mingle as compose leaves them. Then:

1. one worker starts; ``--uploaders`` API clients upload images as fast as
   the service takes them (each answered 202) until ``--backlog`` rows wait;
2. ``--phase-seconds`` after the last upload a second worker starts, as
   ``--scale worker=2`` adds a container; as long after its first result a
   third (``--scale worker=3``);
3. as long after the third's first result, the newest worker is stopped as
   ``--scale worker=2`` (or ``docker stop``) stops a container: SIGTERM to its
   main process, the Celery parent (a warm shutdown: the batch under way is
   finished, prefetched messages go back to the queue), SIGKILL to whatever is
   left after compose's 10 s grace period;
4. the rest drains.

Every accepted image must finish exactly once: a PostgreSQL trigger logs each
update that finishes a row (bench/chaos_faults.py's ``FinishAudit``), so a row
finished by two workers shows twice whatever the service believes. Rows the
sweeper had to take back (``requeued_at`` set) are reported too: none is
expected, since nothing is killed. Also reported: results/s in each phase (by
the rows' ``finished_at``), each new worker's start → ready (model loaded and
warmed) and start → first result, and the drain time. Prints Markdown tables
and writes ``bench/results/worker_scaling.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.chaos import drain, start_sweeper
from bench.chaos_clients import ApiClient, Tally, test_images
from bench.chaos_faults import FinishAudit
from bench.common import print_table, write_results
from bench.stack import Stack, light_bundle
from bench.worker_start import pool_process

COMPOSE_STOP_GRACE_S = 10.0  # docker compose's default stop_grace_period: SIGTERM, then SIGKILL


class Worker:
    """One classify worker, as one compose container runs it: a Celery parent and its pool process."""

    def __init__(self, stack: Stack, number: int):
        self.number = number
        self.started = time.time()
        self.process = stack.start_worker(concurrency=1, log_name=f"classify-{number}", cluster_events=True,
                                          hostname=f"classify{number}-{stack.id}@%h")
        self.ready = self.first_result = self.stop_requested = self.exited = None
        self.ids: set[str] = set()  # the claims its pool process(es) wrote: "hostname:pid"
        self.killed = False

    def wait_ready(self) -> None:
        row = pool_process(self.process.pid)
        self.ready = time.time()
        self.ids.add(row.worker_id)

    def wait_first_result(self, timeout: float = 120.0) -> None:
        from classification.models import Classification

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = (Classification.objects.filter(worker__in=self.ids, status="done")
                     .order_by("finished_at").values_list("finished_at", flat=True).first())
            if first is not None:
                self.first_result = first.timestamp()
                return
            if not Classification.objects.filter(status__in=("queued", "running")).exists():
                raise SystemExit(f"The backlog was gone before worker {self.number}'s first result: "
                                 "a larger --backlog, or a shorter --phase-seconds")
            time.sleep(0.05)
        raise RuntimeError(f"worker {self.number} classified nothing within {timeout:.0f} s")

    def stop_as_compose_does(self, stack: Stack) -> None:
        """SIGTERM to the Celery parent (a container's main process); SIGKILL to what is left after the grace."""
        self.stop_requested = time.time()
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=COMPOSE_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.killed = True
        self.exited = time.time()
        try:  # the container's end takes every process in it
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stack.stop(self.process)

    def restored_messages(self) -> int:
        """Messages the warm shutdown gave back to the queue (Celery logs them)."""
        log = Path(self.process.log_path).read_text(errors="replace")
        return sum(int(count) for count in re.findall(r"Restoring (\d+) unacknowledged message", log))


def upload_backlog(url: str, backlog: int, uploaders: int, most: int) -> tuple[Tally, float, float]:
    """Uploads through the API by ``uploaders`` clients without pause until ``backlog`` rows wait (or ``most`` went)."""
    from django.contrib.auth import get_user_model

    from classification.accounts.tokens import create_token

    tally, stop, images = Tally(), threading.Event(), test_images()
    users = get_user_model().objects
    clients = [ApiClient(url=url, tally=tally, images=images, pace_s=0.0, stop=stop, seed=index,
                         token=create_token(users.create_user(f"uploader-{index}"), "scaling benchmark")[1])
               for index in range(uploaders)]
    began = time.time()
    for client in clients:
        client.start()
    while (queued_now() < backlog and len(tally.accepted.get("api", {})) < most
           and any(client.is_alive() for client in clients)):
        time.sleep(0.05)
    stop.set()
    for client in clients:
        client.join(timeout=90)
    return tally, began, time.time()


def queued_now() -> int:
    from classification.models import Classification

    return Classification.objects.filter(status="queued").count()


def run(args) -> dict:
    env = {"API_THROTTLE_USER": "1000000/min", "API_THROTTLE_UPLOADS": "1000000/min"}
    with tempfile.TemporaryDirectory() as scratch, Stack(bundle=light_bundle(Path(scratch)), env=env) as stack:
        from classification.models import Classification
        from classification.registry import compiling

        if compiling.compile_version(stack.version.pk).onnx_error:  # as `migrate` (ensure_active_model) does
            raise SystemExit("The demo model did not compile")
        audit = FinishAudit(Classification._meta.db_table)
        audit.install()
        url = stack.start_web()
        start_sweeper(stack)
        events: list[tuple[str, float, int]] = []  # (what, when, rows queued then)

        def event(what: str, when: float) -> None:
            events.append((what, when, queued_now()))
            print(f"  {what} (+{when - events[0][1] if events else 0:.1f} s), {events[-1][2]} rows queued", flush=True)

        workers = [Worker(stack, 1)]
        workers[0].wait_ready()
        event("worker 1 ready", workers[0].ready)
        tally, upload_began, upload_ended = upload_backlog(url, args.backlog, args.uploaders, args.most_uploads)
        accepted = set(tally.accepted.get("api", {}))
        workers[0].wait_first_result()
        event(f"{len(accepted)} images uploaded ({len(accepted) / (upload_ended - upload_began):.0f}/s)",
              upload_ended)

        for number in (2, 3):
            time.sleep(max(0.0, (events[-1][1] + args.phase_seconds) - time.time()))
            worker = Worker(stack, number)
            workers.append(worker)
            event(f"worker {number} started", worker.started)
            worker.wait_ready()
            worker.wait_first_result()
            event(f"worker {number}'s first result", worker.first_result)
        time.sleep(max(0.0, (events[-1][1] + args.phase_seconds) - time.time()))
        stopped = workers[-1]
        event(f"worker {stopped.number} sent SIGTERM", time.time())
        stopped.stop_as_compose_does(stack)
        event(f"worker {stopped.number} exited{' (killed)' if stopped.killed else ''}", stopped.exited)
        drained_s = drain(accepted, args.drain)
        rows = list(Classification.objects.values("public_id", "status", "worker", "finished_at", "requeued_at",
                                                  "attempts"))
        finishes = audit.finishes()
        drained_at = max((row["finished_at"].timestamp() for row in rows if row["finished_at"]), default=time.time())
        event("drained", drained_at)
        restored = stopped.restored_messages()
    return summarize(args, tally, accepted, rows, finishes, workers, events, restored,
                     upload=(upload_began, upload_ended), drained_s=drained_s)


def summarize(args, tally, accepted, rows, finishes, workers, events, restored, *, upload, drained_s) -> dict:
    by_id = {str(row["public_id"]): row for row in rows}
    finished_at = sorted(row["finished_at"].timestamp() for row in rows if row["finished_at"] is not None)
    w2, w3, stopped = workers[1], workers[2], workers[-1]
    drained_at = finished_at[-1] if finished_at else time.time()
    phases = [
        ("1 worker", upload[1], w2.first_result),
        ("2 workers", w2.first_result, w3.first_result),
        ("3 workers", w3.first_result, stopped.stop_requested),
        (f"2 workers (worker {stopped.number} stopped)", stopped.stop_requested, drained_at),
    ]
    phase_rows = []
    for name, begin, end in phases:
        done = sum(begin <= moment < end for moment in finished_at)
        phase_rows.append({"phase": name, "seconds": end - begin, "results": done,
                           "results_per_s": done / (end - begin) if end > begin else float("nan"),
                           "queued_at_start": _queued_at(events, begin)})
    per_worker = {worker.number: sum(row["worker"] in worker.ids for row in rows if row["status"] == "done")
                  for worker in workers}
    twice = sorted(pk for pk, count in finishes.items() if count > 1)
    lost = sorted(public_id for public_id in accepted
                  if by_id.get(public_id, {}).get("status") not in ("done", "failed"))
    return {
        "settings": vars(args),
        "accepted": len(accepted),
        "upload_statuses": dict(tally.statuses.get("api", {})),
        "upload_errors": dict(tally.errors.get("api", {})),
        "upload_seconds": upload[1] - upload[0],
        "finished": sum(by_id.get(public_id, {}).get("status") == "done" for public_id in accepted),
        "failed": sum(by_id.get(public_id, {}).get("status") == "failed" for public_id in accepted),
        "lost": lost,
        "finished_twice": twice,
        "finished_once": sum(count == 1 for count in finishes.values()),
        "taken_back_by_sweeper": sum(row["requeued_at"] is not None for row in rows),
        "rows_not_accepted": len(set(by_id) - set(accepted)),
        "phases": phase_rows,
        "workers": [{"worker": worker.number, "processes": sorted(worker.ids), "results": per_worker[worker.number],
                     "start_to_ready_s": worker.ready - worker.started,
                     "start_to_first_result_s": worker.first_result - worker.started if worker.first_result else None}
                    for worker in workers],
        "stopped_worker": {"worker": stopped.number, "sigterm_to_exit_s": stopped.exited - stopped.stop_requested,
                           "killed_after_grace": stopped.killed, "messages_restored": restored},
        "drain_after_uploads_s": drained_at - upload[1],
        "first_upload_to_drained_s": drained_at - upload[0],
        "drain_wait_s": drained_s,
        "events": [{"event": what, "at_s": when - events[0][1], "queued": queued} for what, when, queued in events],
    }


def _queued_at(events, moment: float) -> int | None:
    """Rows queued at the event closest to ``moment`` (each phase begins at one)."""
    closest = min(events, key=lambda entry: abs(entry[1] - moment), default=None)
    return closest[2] if closest is not None and abs(closest[1] - moment) < 1.0 else None


def report(summary: dict) -> list[str]:
    lost, twice = len(summary["lost"]), len(summary["finished_twice"])
    new = [worker for worker in summary["workers"] if worker["worker"] > 1]
    stopped = summary["stopped_worker"]
    tables = [
        print_table(
            "Throughput while scaling (results/s by the rows' finish times)",
            ["phase", "seconds", "results", "results/s", "queued at its start"],
            [[p["phase"], p["seconds"], p["results"], p["results_per_s"],
              "–" if p["queued_at_start"] is None else p["queued_at_start"]] for p in summary["phases"]],
        ),
        print_table(
            "Workers",
            ["worker", "start → ready (s)", "start → first result (s)", "results"],
            [[w["worker"], w["start_to_ready_s"],
              w["start_to_first_result_s"] if w["worker"] > 1 else "– (started before the uploads)", w["results"]]
             for w in summary["workers"]],
        ),
        print_table(
            "Summary",
            ["uploaded (API)", "finished", "failed", "lost", "finished twice", "taken back by the sweeper",
             "new worker start → first result (s)", "SIGTERM → exit (s)", "messages restored", "drain after uploads (s)"],
            [[summary["accepted"], summary["finished"], summary["failed"], lost, twice, summary["taken_back_by_sweeper"],
              " / ".join(f"{w['start_to_first_result_s']:.2f}" for w in new),
              stopped["sigterm_to_exit_s"], stopped["messages_restored"], summary["drain_after_uploads_s"]]],
        ),
    ]
    print(f"  uploads: {summary['upload_statuses']} errors {summary['upload_errors'] or 'none'};"
          f" 0 lost: {'met' if lost == 0 else 'NOT met'}; 0 finished twice: {'met' if twice == 0 else 'NOT met'}")
    return tables


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=2000,
                        help="upload (one worker running) until this many rows wait in the queue")
    parser.add_argument("--most-uploads", type=int, default=8000, help="stop uploading after this many anyway")
    parser.add_argument("--uploaders", type=int, default=4, help="API clients uploading the backlog at once")
    parser.add_argument("--phase-seconds", type=float, default=4.0,
                        help="seconds with each number of workers before the next change")
    parser.add_argument("--drain", type=float, default=300.0, help="longest wait for the backlog to finish")
    args = parser.parse_args(argv)
    summary = run(args)
    tables = report(summary)
    met = not summary["lost"] and not summary["finished_twice"]
    write_results("worker_scaling", {**summary, "targets": {"0_lost_0_twice": met}}, tables)
    return summary


if __name__ == "__main__":
    main()
