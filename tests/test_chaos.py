"""The chaos benchmark's own code, shortened to 35 s: nothing lost, nothing finished twice, no 5xx.

Runs ``python -m bench.chaos`` as the README does, with the tiny model and a
fault every 5 s or so (so each kind, in its shuffled cycle, comes at least
once: with the fixed seed the fourth kind comes about 25 s in, and the test
asserts each did), and a sweeper that looks for lost messages sooner than the
defaults: form, API and webcam clients upload while pool processes, the worker
parent, the benchmark's own Redis and the service's PostgreSQL connections
are killed. Times (recovery, waits) are the benchmark's to report, not this
test's to assert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_DIR

# What the test settings put in the environment for the processes tests start: the benchmark sets its own.
TEST_RUN_VARIABLES = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "CELERY_QUEUE",
                      "CHANNELS_PREFIX", "CACHE_PREFIX")


@pytest.mark.slow
def test_chaos_loses_nothing_and_finishes_nothing_twice(tiny_bundle, tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in TEST_RUN_VARIABLES}
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--seconds", "35", "--fault-gap", "5", "--drain", "240",
         "--stuck-after", "20", "--sweep-interval", "5",
         "--bundle", str(tiny_bundle), "--results-dir", str(tmp_path), "--results-name", "chaos"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    result = json.loads((tmp_path / "chaos.json").read_text())
    report = json.dumps({key: result[key] for key in ("accepted", "outcomes", "client_errors", "faults",
                                                      "failed_reasons", "recoveries")}, indent=1)

    assert all(result["faults"][kind] >= 1 for kind in
               ("pool_process", "worker_parent", "redis_restart", "postgres_backends")), report
    assert all(result["accepted"][kind] > 0 for kind in ("form", "api", "webcam")), report
    assert result["lost"] == [], report
    assert result["finished_twice"] == [] and result["pushed_differently"] == [], report
    assert result["server_errors"]["total"] == 0, report
    assert result["failed"] == 0, report  # no image failed for a fault of the service's
    assert all(fault["recovered"] for fault in result["recoveries"]), report  # new work was served after each
    assert result["worker_restarts"] >= 1
