"""Many webcam sockets at once: can the service hold them, one frame every 10 s each, with the light model?

    .venv/bin/python -m bench.webcam_sockets [--sockets 200] [--interval 10] [--duration 60]

Starts an isolated service (bench/stack.py: the web process + one prefork worker
process) with the light model, opens ``--sockets`` websockets to
``/ws/webcam/`` (spread over the first seconds, as people arrive), and has each
send a 640×480 JPEG frame every ``--interval`` seconds, starting at a random
offset, for ``--duration`` seconds. Reports how many sockets stayed open to the
end, frames sent, accepted, refused and answered, and frame → result latency.
The target (at least 200 sockets held) is met when every socket stays open
and every accepted frame gets its result. Writes bench/results/webcam_sockets.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import tempfile
import time
from pathlib import Path

from bench.common import percentile, print_table, write_results
from bench.stack import Stack, light_bundle


def webcam_frames(count: int = 8) -> list[bytes]:
    """Camera-like JPEG frames: 640×480, a gradient with noise, as browsers send (quality 0.8)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    frames = []
    for _ in range(count):
        ramp = np.linspace(0, 1, 640)[None, :, None] * rng.uniform(60, 200, 3)
        pixels = np.clip(ramp + rng.normal(40, 8, (480, 640, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
        frames.append(buffer.getvalue())
    return frames


async def one_socket(url: str, index: int, frames: list[bytes], args, stats: dict, start_at: float, stop_at: float):
    from websockets.asyncio.client import connect

    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    sent_at: dict[int, float] = {}
    pending: list[float] = []  # frames sent, waiting for "accepted"
    try:
        async with connect(url.replace("http", "ws", 1) + "/ws/webcam/", origin=url, max_size=None) as socket:
            stats["opened"] += 1
            ready = json.loads(await socket.recv())
            assert ready["type"] == "ready", ready

            async def sender():
                next_frame = time.monotonic() + random.uniform(0, args.interval)
                while next_frame < stop_at:
                    await asyncio.sleep(max(0.0, next_frame - time.monotonic()))
                    pending.append(time.time())
                    stats["sent"] += 1
                    await socket.send(frames[(index + stats["sent"]) % len(frames)])
                    next_frame += args.interval

            send_task = asyncio.create_task(sender())
            deadline = stop_at + args.drain
            while time.monotonic() < deadline and not (send_task.done() and not pending and not sent_at):
                try:
                    message = json.loads(await asyncio.wait_for(socket.recv(), timeout=0.5))
                except asyncio.TimeoutError:
                    continue
                now = time.time()
                if message["type"] == "accepted":
                    sent_at[message["classification"]["id"]] = pending.pop(0)
                    stats["accepted"] += 1
                elif message["type"] == "rejected":
                    pending.pop(0)
                    stats["refused"][message["code"]] = stats["refused"].get(message["code"], 0) + 1
                elif message["type"] == "result":
                    sent = sent_at.pop(message["classification"]["id"], None)
                    if sent is not None:
                        stats["latencies_ms"].append(1000 * (now - sent))
                        stats["answered"] += 1
            send_task.cancel()
            stats["unanswered"] += len(sent_at)
            stats["held_to_end"] += 1
    except Exception as exc:  # a socket the server closed or refused: exactly what this counts
        stats["errors"].append(f"socket {index}: {exc!r}"[:200])


async def run(url: str, args, frames: list[bytes]) -> dict:
    stats = {"opened": 0, "held_to_end": 0, "sent": 0, "accepted": 0, "answered": 0, "unanswered": 0,
             "refused": {}, "latencies_ms": [], "errors": []}
    began = time.monotonic()
    stop_at = began + args.ramp + args.duration
    await asyncio.gather(*(
        one_socket(url, i, frames, args, stats, began + args.ramp * i / args.sockets, stop_at)
        for i in range(args.sockets)
    ))
    stats["wall_s"] = time.monotonic() - began
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a socket's frames")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending after the ramp")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the sockets connect")
    parser.add_argument("--drain", type=float, default=20.0, help="seconds to wait for the last results")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--settings", default="bench.settings",
                        help="classifier_site.settings to try the service's own channel-layer settings (see bench/settings.py)")
    args = parser.parse_args()

    frames = webcam_frames()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = args.bundle or light_bundle(Path(scratch))
        with Stack(bundle=bundle, database=args.database, env={"DJANGO_SETTINGS_MODULE": args.settings}) as stack:
            stack.start_web()
            since = time.time()
            stack.start_worker()
            [status] = stack.wait_for_workers(1, since)
            time.sleep(1.0)
            stats = asyncio.run(run(stack.url, args, frames))

    latencies = stats.pop("latencies_ms")
    held = stats["held_to_end"] == args.sockets and not stats["errors"] and stats["unanswered"] == 0
    summary = {
        **stats,
        "sockets": args.sockets,
        "interval_s": args.interval,
        "runtime": status.runtime,
        "frames_per_s": stats["sent"] / args.duration,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "latency_max_ms": max(latencies) if latencies else float("nan"),
        "errors": stats["errors"][:20],
    }
    table = print_table(
        f"{args.sockets} webcam sockets, one {len(frames[0]) // 1024} kB 640×480 frame every {args.interval:.0f} s each, "
        f"{args.duration:.0f} s (light model, {status.runtime}, one worker process)",
        ["sockets opened", "held to the end", "frames sent", "accepted", "answered", "refused", "frame → result p50 (ms)",
         "p95 (ms)", "max (ms)"],
        [[stats["opened"], stats["held_to_end"], stats["sent"], stats["accepted"], stats["answered"],
          sum(stats["refused"].values()), summary["latency_p50_ms"], summary["latency_p95_ms"], summary["latency_max_ms"]]],
    )
    if stats["errors"]:
        print("Errors:", *stats["errors"][:10], sep="\n  ")
    write_results("webcam_sockets", {"settings": args.settings, "result": summary, "targets": {f"{args.sockets}_sockets_held": {"met": held}}}, [table])


if __name__ == "__main__":
    main()
