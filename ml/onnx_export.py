"""Exporting a Keras model to ONNX, in a child process that is watched for memory and time.

``tf2onnx`` (under Keras' own ``model.export(format="onnx")``) can need many
times the model's size in memory: VGG16's 120 M parameters took more than
20 GB here, MobileNetV2's 2.3 M 1.3 GB. A worker killed for memory could not
fall back to anything, so the export runs in a child process that is stopped
past :func:`export_memory_limit` or :data:`EXPORT_TIMEOUT_S`, and what it
allocated goes away with it. Run as ``python -m ml.onnx_export MODEL OUTPUT``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def onnx_file_name() -> str:
    """The cached export's name: another exporter version may export differently, so it re-exports."""
    from importlib.metadata import version

    return f"model.keras{version('keras')}-tf2onnx{version('tf2onnx')}.onnx"


class ExportError(RuntimeError):
    """The ONNX export did not produce a file: a conversion error, too much memory, too long."""


def export_onnx(model: Any, directory: str | Path | None = None, *, model_path: str | Path | None = None) -> Path:
    """Export a Keras model to ONNX in a watched child process; return the ONNX file.

    ``model_path`` is the model's file when there is one (a worker's cache);
    otherwise the model is saved to a temporary file first. With a
    ``directory`` an earlier export is reused and a new one is written under a
    temporary name first, so processes starting side by side never read half a
    file; without one the file goes to a temporary folder.
    """
    directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="onnx-export-"))
    target = directory / onnx_file_name()
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{target.name}.{os.getpid()}.part"
    try:
        with tempfile.TemporaryDirectory(prefix="onnx-export-") as scratch:
            if model_path is None:
                model_path = Path(scratch) / "model.keras"
                model.save(model_path)
            _export_in_child(Path(model_path), partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


#: Seconds an export may take; MobileNetV2 takes about 5 here, the TensorFlow import included.
EXPORT_TIMEOUT_S = 300


#: The most memory an export may take; MobileNetV2's peaks at 1.3 GiB. A model that needs more
#: is served by TensorFlow rather than squeeze the web process and the other workers.
EXPORT_MEMORY_CAP = 4 * 2**30


def export_memory_limit() -> int:
    """Bytes the export child may hold: :data:`EXPORT_MEMORY_CAP`, or half the memory available now if less."""
    try:
        with open("/proc/meminfo") as fh:
            available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return EXPORT_MEMORY_CAP
    return min(EXPORT_MEMORY_CAP, available // 2)


#: The end of the export child's output kept for the error message (the rest is read and dropped).
OUTPUT_TAIL_BYTES = 64 * 1024


def _export_in_child(model_path: Path, output: Path) -> None:
    import subprocess
    import sys

    limit = export_memory_limit()
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": _package_root(os.environ.get("PYTHONPATH"))}
    child = subprocess.Popen(
        [sys.executable, "-m", "ml.onnx_export", str(model_path), str(output)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    tail = OutputTail(child.stdout)
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    peak = 0
    while child.poll() is None:
        peak = max(peak, _resident_bytes(child.pid))
        if peak > limit or time.monotonic() > deadline:
            child.kill()
            child.wait()
            tail.join()
            reason = f"it needed more than {limit / 2**30:.1f} GiB of memory" if peak > limit else f"it took more than {EXPORT_TIMEOUT_S} s"
            raise ExportError(f"export stopped: {reason}")
        time.sleep(0.1)
    tail.join()
    errors = tail.text().strip().splitlines()
    if child.returncode != 0 or not output.is_file():
        raise ExportError(errors[-1] if errors else f"the export process exited with {child.returncode}")


class OutputTail:
    """Reads a child's output while it runs, keeping only its last :data:`OUTPUT_TAIL_BYTES`.

    Read only after the child exits, a pipe fills (64 KiB on Linux) and a
    chatty child blocks on its next write until it is killed for taking too long.
    """

    def __init__(self, stream, limit: int = OUTPUT_TAIL_BYTES):
        import threading

        self._stream, self._limit, self._buffer = stream, limit, bytearray()
        self._thread = threading.Thread(target=self._drain, name="export-output", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for chunk in iter(lambda: self._stream.read1(65536), b""):
            self._buffer += chunk
            del self._buffer[:-self._limit]
        self._stream.close()

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        return bytes(self._buffer).decode(errors="replace")


def _package_root(existing: str | None) -> str:
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, (root, existing)))


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _export_main(model_path: str, output: str) -> None:
    """The export child: load, run once (Keras exports only a model that ran), export."""
    from ml.keras_io import load_model, quiet_tensorflow

    quiet_tensorflow()
    model = load_model(model_path)
    shape = model.input_shape[0] if isinstance(model.input_shape, list) else model.input_shape
    model(np.zeros((1, *(dim or 32 for dim in shape[1:])), dtype=np.float32), training=False)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # it logs every rewrite pass at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(output, format="onnx", verbose=False)


if __name__ == "__main__":
    import sys

    _export_main(*sys.argv[1:3])
