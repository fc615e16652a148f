"""Twenty cameras at one frame per 10 s: the capture service's CPU per camera and frame → result latency.

    .venv/bin/python -m bench.cameras [--cameras 20] [--interval 10] [--duration 60] [--kind rtsp|mjpeg]

Starts an isolated service (bench/stack.py: one prefork classify worker with
the light model, and the capture service, ``manage.py capture``, as its own
process) and real cameras on 127.0.0.1: GStreamer's RTSP server (Debian's
python3, tests/rtsp_server.py) streaming 640×480 H.264 at 10 frames/s with a
key frame every 2 s, made from the sample photos (every camera a session of
it), or MJPEG streams at 10 frames/s from a small Python server. Every frame
is stored (``CLASSIFIER_EVENTS_KEEP_EVERY_FRAME``), so each is measured; with
near-duplicates left out, less is stored and classified. Reports the capture
process's CPU per camera (from /proc), frames taken per camera against the
interval, and frame → result latency (the row's stored → finished). Writes
bench/results/cameras.json.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.common import REPO_DIR, CpuMeter, percentile, print_table, sample_images, write_results
from bench.stack import BIN, Stack, light_bundle
from tests.camera_servers import http_camera, rtsp_camera  # the same cameras the tests stream from

SIZE = (640, 480)


def frames_from_photos(count: int = 8) -> list[bytes]:
    from PIL import Image

    images, _ = sample_images(count)
    frames = []
    for data in images:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").resize(SIZE).save(buffer, format="JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured, after every camera is online")
    parser.add_argument("--kind", choices=("rtsp", "mjpeg"), default="rtsp")
    parser.add_argument("--fps", type=int, default=10, help="frames per second each camera streams")
    args = parser.parse_args()

    frames = frames_from_photos()
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as cameras:
        scratch = Path(scratch)
        if args.kind == "rtsp":
            url = cameras.enter_context(rtsp_camera(frames, scratch, fps=args.fps, keyint=2 * args.fps))
        else:
            url = cameras.enter_context(http_camera(frames, fps=args.fps)).base + "/stream.mjpg"
        with Stack(bundle=light_bundle(scratch), env={"CLASSIFIER_EVENTS_KEEP_EVERY_FRAME": "true"}) as stack:
            result = measure(stack, url, args)
    report(result, args)


def measure(stack: Stack, url: str, args) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from classification.models import Camera, CameraState, Classification

    since = time.time()
    worker = stack.start_worker()
    stack.wait_for_workers(1, since)
    owner = User.objects.create_user("bench-owner")
    for index in range(args.cameras):
        Camera.objects.create(owner=owner, name=f"camera {index + 1}", kind=args.kind, url=url,
                              interval_seconds=args.interval)
    log = open(stack.var_dir / "capture.log", "a")
    capture = subprocess.Popen([str(BIN / "python"), "manage.py", "capture"], cwd=REPO_DIR, env=stack.env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack.processes.append(capture)
    deadline = time.monotonic() + 120
    while CameraState.objects.filter(status="online").count() < args.cameras:
        if time.monotonic() > deadline or capture.poll() is not None:
            raise RuntimeError(f"the cameras did not come online; see {stack.var_dir}/capture.log")
        connection.close()
        time.sleep(0.5)
    time.sleep(args.interval)  # past every camera's first frame, taken at connection
    meter = CpuMeter({"capture": [capture.pid], "worker": [worker.pid]})
    window_start = timezone.now()
    start = time.monotonic()
    time.sleep(args.duration)
    cpu = meter.seconds()
    wall = time.monotonic() - start
    window_end = timezone.now()
    time.sleep(5)  # the last frames' results
    rows = list(Classification.objects.filter(created_at__gte=window_start, created_at__lt=window_end, source="camera")
                .values_list("stream", "created_at", "started_at", "finished_at", "status"))
    done = [(created, started, finished) for _, created, started, finished, status in rows if status == "done"]
    per_camera = {}
    for stream, *_ in rows:
        per_camera[stream] = per_camera.get(stream, 0) + 1
    return {
        "cpu_s": cpu, "wall_s": wall, "frames": len(rows), "done": len(done), "per_camera": per_camera,
        "latencies": [1000 * (finished - created).total_seconds() for created, _, finished in done],
        "queued": [1000 * (started - created).total_seconds() for created, started, _ in done],
        "offline": CameraState.objects.exclude(status="online").count(),
    }


def report(result: dict, args) -> None:
    cameras, wall = args.cameras, result["wall_s"]
    capture_cpu = result["cpu_s"].get("capture", 0.0)
    counts = list(result["per_camera"].values()) or [0]
    expected = wall / args.interval
    summary = {
        "cameras": cameras, "kind": args.kind, "interval_s": args.interval, "stream_fps": args.fps,
        "measured_s": round(wall, 1), "frames_taken": result["frames"], "frames_classified": result["done"],
        "frames_per_camera_min": min(counts), "frames_per_camera_max": max(counts), "frames_expected": expected,
        "capture_cpu_s": capture_cpu, "capture_cpu_per_camera_percent": 100 * capture_cpu / wall / cameras,
        "capture_cpu_ms_per_frame": 1000 * capture_cpu / max(result["frames"], 1),
        "worker_cpu_s": result["cpu_s"].get("worker", 0.0),
        "latency_p50_ms": percentile(result["latencies"], 50), "latency_p95_ms": percentile(result["latencies"], 95),
        "latency_max_ms": max(result["latencies"]) if result["latencies"] else float("nan"),
        "stored_to_started_p50_ms": percentile(result["queued"], 50),
        "cameras_offline_at_end": result["offline"],
    }
    table = print_table(
        f"{cameras} {args.kind.upper()} cameras (640×480, {args.fps} frames/s), one frame every {args.interval:g} s, "
        f"{wall:.0f} s",
        ["cameras", "frames taken", "per camera (min–max, expected)", "capture CPU per camera (% of a core)",
         "capture CPU per frame (ms)", "frame → result p50 (ms)", "p95 (ms)", "max (ms)", "of which queued p50 (ms)"],
        [[cameras, result["frames"], f"{min(counts)}–{max(counts)} ({expected:.1f})",
          summary["capture_cpu_per_camera_percent"], summary["capture_cpu_ms_per_frame"], summary["latency_p50_ms"],
          summary["latency_p95_ms"], summary["latency_max_ms"], summary["stored_to_started_p50_ms"]]],
    )
    write_results(f"cameras_{args.kind}", {"result": summary}, [table])


if __name__ == "__main__":
    main()
