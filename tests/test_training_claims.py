"""Training runs are never trained twice, and a run whose process died is marked interrupted and can start again.

Real Redis, a real Celery worker (the test's own solo worker, or a prefork
training worker in its own process) and real training of a tiny network.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.urls import reverse

from classification import queueing
from classification.models import ModelVersion, TrainingRun
from classification.training import runs
from tests.conftest import REPO_DIR, child_process_env
from tests.ml.fakes import make_dataset

SETTINGS = {"arch": "basic_cnn", "weights": "none", "epochs": 2, "img_size": 24, "batch_size": 8, "seed": 1}


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data", classes=("blue", "red"), per_class=8)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("trainer", "t@example.com", "pw")


def wait_for_status(run_id: int, statuses: tuple[str, ...], timeout: float = 120) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        time.sleep(0.2)
    run = TrainingRun.objects.get(pk=run_id)
    raise AssertionError(f"run {run_id} is {run.status} ({run.stage}), not {statuses}: {run.error_message}")


def test_the_broker_never_hands_a_run_out_again_before_its_time_limit():
    from classifier_site.celery import app

    app.loader.import_default_modules()  # the tasks, as a worker finds them (autodiscovery is lazy)
    longest = settings.CLASSIFIER["TRAINING_MAX_SECONDS"]
    task = app.tasks[queueing.TRAIN_MODEL]
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert task.soft_time_limit == longest
    assert longest < task.time_limit < visibility
    assert visibility > 3600  # above Redis' default, which redelivered runs longer than an hour


@pytest.mark.django_db
def test_a_run_past_its_time_limit_fails_saying_so(dataset, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from classification.training import execution

    def slow_training(config, progress):
        raise SoftTimeLimitExceeded()  # what the worker raises in the task at TRAINING_MAX_SECONDS

    monkeypatch.setattr(execution, "train", slow_training)
    run = runs.create_run(data=str(dataset), settings=SETTINGS)

    run = execution.run_training(run.pk, time_up=(SoftTimeLimitExceeded,))

    limit = settings.CLASSIFIER["TRAINING_MAX_SECONDS"]
    assert run.status == "failed" and f"longer than CLASSIFIER_TRAINING_MAX_SECONDS ({limit} s)" in run.error_message


def test_a_second_delivery_of_a_run_trains_nothing(dataset, celery_worker):
    """The same run's message twice (Redis redelivering it, or someone queueing it again): one training."""
    run = runs.create_run(data=str(dataset), settings=SETTINGS)
    queueing.train(run.pk)
    queueing.train(run.pk)

    run = wait_for_status(run.pk, ("done", "failed"))
    time.sleep(2)  # the second message is taken and dropped meanwhile

    assert run.status == "done", run.error_message
    assert ModelVersion.objects.count() == 1
    assert TrainingRun.objects.get(pk=run.pk).log.count("epoch 1/2") == 1
    assert run.claimed_by.rpartition(":")[2] == str(os.getpid())  # the solo worker runs in this process


def test_a_run_held_by_a_live_trainer_is_left_to_it_then_interrupted_when_it_dies_and_started_again(
    client, staff, dataset, celery_worker
):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        run = runs.create_run(data=str(dataset), settings=SETTINGS)
        assert runs.claim(run.pk, f"{socket.gethostname()}:{other.pid}")  # a second trainer has it
        queueing.train(run.pk)
        time.sleep(3)
        run = TrainingRun.objects.get(pk=run.pk)
        assert (run.status, run.epoch, ModelVersion.objects.count()) == ("running", 0, 0)
        assert runs.interrupt_abandoned() == 0  # its trainer lives
    finally:
        other.kill()
        other.wait()

    client.force_login(staff)
    changelist = reverse("admin:classification_trainingrun_changelist")
    # Still running (the sweeper has not looked yet): not started again.
    client.post(changelist, {"action": "start_again", "_selected_action": [run.pk]})
    assert TrainingRun.objects.get(pk=run.pk).status == "running"

    assert runs.interrupt_abandoned() == 1  # what the sweeper does every beat
    run = TrainingRun.objects.get(pk=run.pk)
    assert run.status == "interrupted" and str(other.pid) in run.error_message
    assert "Interrupted" in client.get(changelist).content.decode()

    response = client.post(changelist, {"action": "start_again", "_selected_action": [run.pk]}, follow=True)
    assert "Queued again: #%d" % run.pk in response.content.decode()
    run = wait_for_status(run.pk, ("done", "failed"))
    assert run.status == "done", run.error_message
    assert ModelVersion.objects.count() == 1 and run.epoch == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_training_process_killed_mid_run_leaves_it_interrupted_not_trained_again(dataset, tmp_path):
    """A prefork training worker, as `make run` starts it; its pool process is killed while it trains."""
    run = runs.create_run(data=str(dataset), settings={**SETTINGS, "epochs": 200})
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "classifier_site", "worker", "--loglevel=INFO",
         f"--queues={settings.CELERY_TRAINING_QUEUE}", "--concurrency=1", "--max-tasks-per-child=1",
         f"--hostname=training-{os.getpid()}@%h"],
        cwd=REPO_DIR, env=child_process_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        queueing.train(run.pk)
        deadline = time.monotonic() + 120
        while TrainingRun.objects.get(pk=run.pk).epoch < 2:
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        trainer = TrainingRun.objects.get(pk=run.pk).claimed_by
        os.kill(int(trainer.rpartition(":")[2]), signal.SIGKILL)

        # The worker hands the message back (the process was lost) and a new process takes it: it finds
        # the run's trainer dead and marks the run interrupted instead of training it again.
        run = wait_for_status(run.pk, ("interrupted",), timeout=60)
        epoch = run.epoch
        time.sleep(3)
        assert TrainingRun.objects.get(pk=run.pk).epoch == epoch  # nobody trains it behind our back
        assert trainer in run.error_message and not ModelVersion.objects.exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


@pytest.mark.django_db
def test_a_run_claimed_before_the_process_now_bearing_its_id_started_is_interrupted(dataset):
    """A restarted trainer container numbers its processes from 1 again: the claim's pid may be a new process's."""
    from datetime import datetime, timedelta, timezone

    from classification.models.workers import process_started_at

    run = runs.create_run(data=str(dataset), settings=SETTINGS)
    assert runs.claim(run.pk, f"{socket.gethostname()}:{os.getpid()}")
    assert runs.interrupt_abandoned() == 0  # claimed by this process, which lives
    started = datetime.fromtimestamp(process_started_at(os.getpid()), tz=timezone.utc)
    TrainingRun.objects.filter(pk=run.pk).update(started_at=started - timedelta(minutes=5))
    assert runs.interrupt_abandoned() == 1  # by the process that had this pid before
    assert TrainingRun.objects.get(pk=run.pk).status == "interrupted"
