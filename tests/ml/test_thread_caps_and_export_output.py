"""Thread caps from the real CPU budget (affinity and cgroup quota), and the export child's output drained."""

from __future__ import annotations

import subprocess
import sys
import time

from ml import cores, onnx_export


def test_the_cgroup_v2_quota_caps_the_cores(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cores.cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cores.cgroup_cpu_quota(tmp_path) is None

    monkeypatch.setattr(cores, "cgroup_cpu_quota", lambda: 2.0)
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert cores.available_cores() == 2
    assert cores.threads_per_process(2) == 1  # 2 processes × 1 thread ≤ 2 cores
    monkeypatch.setattr(cores, "cgroup_cpu_quota", lambda: None)
    assert cores.available_cores() == 16 and cores.threads_per_process(3) == 5


def test_a_worker_runs_two_classify_processes_unless_it_has_one_core(monkeypatch):
    assert [cores.default_pool_size(n) for n in (1, 2, 4, 16)] == [1, 2, 2, 2]
    monkeypatch.setattr(cores, "available_cores", lambda: 1)
    assert cores.default_pool_size() == 1  # never more processes than cores: each needs a thread


def test_the_cgroup_v1_quota_is_read_too(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cores.cgroup_cpu_quota(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cores.cgroup_cpu_quota(tmp_path) is None


def test_a_chatty_child_is_drained_while_it_runs_and_its_last_words_kept():
    """4 MiB of output would fill a 64 KiB pipe and block the child for good if nobody read it meanwhile."""
    chatty = ("import sys\nfor i in range(4096): sys.stdout.write('x' * 1023 + '\\n')\n"
              "sys.stdout.flush(); sys.stderr.write('ValueError: the last line\\n')\n")
    child = subprocess.Popen([sys.executable, "-c", chatty], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tail = onnx_export.OutputTail(child.stdout)
    deadline = time.monotonic() + 30
    while child.poll() is None:
        assert time.monotonic() < deadline, "the child blocked on a full pipe"
        time.sleep(0.05)
    tail.join()

    text = tail.text()
    assert text.strip().splitlines()[-1] == "ValueError: the last line"
    assert len(text.encode()) <= onnx_export.OUTPUT_TAIL_BYTES
