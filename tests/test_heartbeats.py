"""Heartbeats and row claims: who holds a row, and whether that process still lives (CONTRACT14)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from classification.intake.submission import submit_image
from classification.models import Classification, WorkerProcess
from classification.models.workers import process_started_at
from classification.serving import heartbeats
from classification.serving.classify import classify_stored_images
from ml.predictor import Predictor
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_reported_yet():
    """Start from a process that has reported nothing: an earlier test in this pytest process may have
    reported a model version that its rolled-back transaction took away (a foreign key this test's row would carry)."""
    saved = dict(heartbeats._fields)
    heartbeats._fields.clear()
    heartbeats._fields["pid"] = None
    yield
    heartbeats._fields.clear()
    heartbeats._fields.update(saved)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_beat_records_this_process_and_live_counts_only_recent_beats(settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "HEARTBEAT_SECONDS": 10.0}
    heartbeats.report(role="classify", runtime="onnxruntime")
    mine = WorkerProcess.objects.get(hostname=socket.gethostname(), pid=os.getpid())
    assert (mine.role, mine.runtime, mine.worker_id) == ("classify", "onnxruntime", heartbeats.worker_id())
    stale = WorkerProcess.objects.create(hostname="other", pid=2, last_seen=timezone.now() - timedelta(seconds=31))
    gone = WorkerProcess.objects.create(hostname="other", pid=3, last_seen=timezone.now() - timedelta(seconds=101))
    WorkerProcess.objects.create(hostname="other", pid=4, role="training")

    assert set(WorkerProcess.objects.live().values_list("pid", flat=True)) == {os.getpid(), 4}
    assert list(WorkerProcess.objects.live(role="training").values_list("pid", flat=True)) == [4]
    heartbeats.beat()
    assert WorkerProcess.objects.filter(pk=stale.pk).exists()  # stale: not live, still shown
    assert not WorkerProcess.objects.filter(pk=gone.pk).exists()  # silent for ten beats: forgotten


def test_a_beat_forgets_this_hosts_processes_that_are_gone_at_once():
    """A killed pool process must not count as live for three more beats: its replacement's first beat removes it."""
    here = socket.gethostname()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = WorkerProcess.objects.create(hostname=here, pid=running.pid, role="classify",
                                             started_at=timezone.now() + timedelta(seconds=1))
        killed = WorkerProcess.objects.create(hostname=here, pid=_dead_pid(), role="classify",
                                              started_at=timezone.now())
        # Its pid now belongs to a process (the one running these tests' parent) that started long after it.
        replaced = WorkerProcess.objects.create(hostname=here, pid=os.getppid(), role="classify",
                                                started_at=timezone.now() - timedelta(days=3650))
        elsewhere = WorkerProcess.objects.create(hostname="elsewhere", pid=_dead_pid(), role="classify")
        assert WorkerProcess.objects.live(role="classify").filter(pk=killed.pk).exists()  # its last beat is recent

        heartbeats.beat()

        assert not WorkerProcess.objects.filter(pk__in=[killed.pk, replaced.pk]).exists()
        assert WorkerProcess.objects.filter(pk=alive.pk).exists()
        assert WorkerProcess.objects.filter(pk=elsewhere.pk).exists()  # another host's: its heartbeat decides
        assert WorkerProcess.objects.filter(hostname=here, pid=os.getpid()).exists()
    finally:
        running.kill()
        running.wait()


def test_is_alive_asks_the_process_table_here_and_heartbeats_elsewhere():
    here = socket.gethostname()
    assert heartbeats.is_alive(heartbeats.worker_id())
    assert not heartbeats.is_alive(f"{here}:{_dead_pid()}")  # killed a moment ago: dead, whatever it last said
    assert not heartbeats.is_alive("")
    WorkerProcess.objects.create(hostname="elsewhere", pid=7)
    WorkerProcess.objects.create(hostname="elsewhere", pid=8, last_seen=timezone.now() - timedelta(minutes=5))
    assert heartbeats.is_alive("elsewhere:7")
    assert not heartbeats.is_alive("elsewhere:8")


def _this_process_started():
    return datetime.fromtimestamp(process_started_at(os.getpid()), tz=dt_timezone.utc)


def test_a_claim_made_before_the_process_now_bearing_its_id_started_is_a_dead_processs():
    """A restarted container keeps its host name and numbers its processes from 1 again (so does a rebooted
    machine): the process that now has a claim's pid may have started after the claim, and is not its claimant."""
    me, started = heartbeats.worker_id(), _this_process_started()
    assert heartbeats.is_alive(me, started + timedelta(seconds=2))  # claimed by this process
    assert not heartbeats.is_alive(me, started - timedelta(minutes=5))  # by the one that had its pid before
    assert heartbeats.is_alive(me)  # no claim time known (an older row): the process table alone
    WorkerProcess.objects.create(hostname="elsewhere", pid=9, started_at=timezone.now() - timedelta(seconds=30))
    assert heartbeats.is_alive("elsewhere:9", timezone.now())
    assert not heartbeats.is_alive("elsewhere:9", timezone.now() - timedelta(minutes=1))  # it beats, but started since


@pytest.fixture
def predictor(tiny_bundle):
    return Predictor.from_bundle(tiny_bundle)


def test_a_task_claims_waiting_rows_and_rows_of_dead_processes_only(active_tiny_model, predictor):
    here = socket.gethostname()
    waiting, orphaned, held, done, predecessor = (
        submit_image(data=image_bytes(color=(i, 0, 0)), original_name=f"{i}.jpg") for i in range(5))
    Classification.objects.filter(pk=orphaned.pk).update(status="running", worker=f"{here}:{_dead_pid()}")
    Classification.objects.filter(pk=held.pk).update(status="running", worker=f"{here}:{os.getppid()}")
    Classification.objects.filter(pk=done.pk).update(status="done", predicted_label="kept", worker="x:1")
    # Held under this process's own id, by the process that had its pid before (a restarted container).
    Classification.objects.filter(pk=predecessor.pk).update(
        status="running", worker=heartbeats.worker_id(), started_at=_this_process_started() - timedelta(minutes=5))

    classify_stored_images([waiting.pk, orphaned.pk, held.pk, done.pk, predecessor.pk],
                           load_model=lambda: (predictor, active_tiny_model))

    rows = {row.pk: row for row in Classification.objects.all()}
    assert (rows[waiting.pk].status, rows[waiting.pk].worker) == ("done", heartbeats.worker_id())
    assert (rows[orphaned.pk].status, rows[orphaned.pk].worker) == ("done", heartbeats.worker_id())
    assert (rows[predecessor.pk].status, rows[predecessor.pk].worker) == ("done", heartbeats.worker_id())
    assert (rows[held.pk].status, rows[held.pk].worker) == ("running", f"{here}:{os.getppid()}")  # a live holder keeps it
    assert (rows[done.pk].status, rows[done.pk].predicted_label) == ("done", "kept")


def test_results_are_saved_only_for_rows_this_process_still_holds(active_tiny_model, predictor):
    kept, taken = (submit_image(data=image_bytes(color=(i, 9, 0)), original_name=f"{i}.jpg") for i in range(2))
    other = f"{socket.gethostname()}:{os.getppid()}"

    def load_while_the_sweeper_takes_one_over():
        Classification.objects.filter(pk=taken.pk).update(status="queued", worker="")
        Classification.objects.filter(pk=taken.pk).update(status="running", worker=other)
        return predictor, active_tiny_model

    classify_stored_images([kept.pk, taken.pk], load_model=load_while_the_sweeper_takes_one_over)

    assert Classification.objects.get(pk=kept.pk).status == "done"
    taken_row = Classification.objects.get(pk=taken.pk)
    assert (taken_row.status, taken_row.worker, taken_row.predicted_label) == ("running", other, "")


def test_a_training_process_beats_as_training_and_caps_its_threads_by_the_real_pool(monkeypatch):
    from types import SimpleNamespace

    from classification import queueing, tasks

    capped = []
    monkeypatch.setattr(queueing, "this_worker_classifies", lambda: False)
    monkeypatch.setattr(queueing, "this_worker_trains", lambda: True)
    monkeypatch.setattr(tasks, "limit_tensorflow_threads", capped.append)
    monkeypatch.setitem(tasks._worker, "controller", SimpleNamespace(concurrency=2))  # `--concurrency=2`
    monkeypatch.setattr(tasks.process_model, "state", tasks.process_model.LoadedModel())
    try:
        tasks._start_process()
        assert capped == [tasks.threads_per_process(2)]
        assert WorkerProcess.objects.get(pid=os.getpid()).role == "training"
    finally:
        heartbeats.stop_heartbeat()
    assert not WorkerProcess.objects.filter(pid=os.getpid()).exists()  # a clean end leaves no row
