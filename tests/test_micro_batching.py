"""Micro-batching in the worker: queued images share one model call, a lone image waits for nothing.

The task is called in this process against the real Redis queue of this test
run, with the messages of the other images published first, as they would be
while a worker was busy; the predictor counts its model calls.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings

from classification import queueing, tasks
from classification.intake.submission import submit_image
from classification.models import Classification
from classification.serving import classify, process_model
from classifier_site.celery import app
from ml.predictor import Predictor
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


class CountingPredictor:
    """The tiny model's predictor, remembering the batch size of every model call."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.calls: list[int] = []
        infer = predictor._infer

        def counted(batch):
            self.calls.append(len(batch))
            return infer(batch)

        predictor._infer = counted


@pytest.fixture
def counting(active_tiny_model, tiny_bundle, monkeypatch):
    counter = CountingPredictor(Predictor.from_bundle(tiny_bundle))
    monkeypatch.setattr(process_model, "switch_if_needed", lambda: None)
    monkeypatch.setattr(process_model, "current", lambda: (counter.predictor, active_tiny_model))
    return counter


@pytest.fixture(autouse=True)
def empty_queue():
    app.control.purge()
    yield
    app.control.purge()
    queueing._drop_connection()


def queued_rows(count: int) -> list[Classification]:
    # submit_image queues on commit; these tests run in a transaction that never commits,
    # so nothing is queued until a test publishes the messages itself.
    return [submit_image(data=image_bytes(color=(30 * i, 90, 200 - 20 * i)), original_name=f"{i}.jpg") for i in range(count)]


def queue_length() -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(app.conf.task_default_queue).message_count


def test_images_queued_behind_a_task_are_classified_in_one_model_call(counting):
    first, *waiting = queued_rows(5)
    for row in waiting:
        tasks.classify_image.delay(row.pk)
    assert queue_length() == 4

    tasks.classify_image(first.pk)

    assert counting.calls == [5]
    assert queue_length() == 0  # taken and acknowledged, not left for their own tasks
    rows = Classification.objects.filter(pk__in=[first.pk, *(row.pk for row in waiting)])
    assert sorted(row.status for row in rows) == ["done"] * 5
    expected = counting.predictor.predict([row.image.open("rb").read() for row in rows])
    # Two model calls (a batch of 5, then these 5 again) may differ in the last bits: batched float32
    # arithmetic depends on the CPU's code path.
    assert [row.probabilities for row in rows] == [pytest.approx(p.probabilities, abs=1e-6) for p in expected]


def test_batches_are_bounded(counting, settings):
    settings.CLASSIFIER_BATCH_MAX_SIZE = 3
    first, *waiting = queued_rows(5)
    for row in waiting:
        tasks.classify_image.delay(row.pk)

    tasks.classify_image(first.pk)

    assert counting.calls == [3]
    assert queue_length() == 2


def test_a_lone_image_is_classified_without_waiting_for_company(counting, monkeypatch):
    naps = []
    monkeypatch.setattr(queueing, "time", SimpleNamespace(monotonic=time.monotonic, sleep=naps.append))
    [row] = queued_rows(1)

    tasks.classify_image(row.pk)

    assert counting.calls == [1]
    assert naps == []
    assert Classification.objects.get(pk=row.pk).status == "done"


def test_a_configured_wait_is_honoured(counting, monkeypatch, settings):
    settings.CLASSIFIER_BATCH_MAX_WAIT_MS = 20
    naps = []
    ticks = iter(range(1000))  # a clock that moves 1 ms per look
    monkeypatch.setattr(queueing, "time", SimpleNamespace(monotonic=lambda: next(ticks) / 1000, sleep=naps.append))
    [row] = queued_rows(1)

    tasks.classify_image(row.pk)

    assert counting.calls == [1]
    assert 10 <= len(naps) <= 20


def test_a_redelivered_task_for_a_done_row_does_nothing(counting, monkeypatch):
    [row] = queued_rows(1)
    tasks.classify_image(row.pk)
    done = Classification.objects.get(pk=row.pk)
    pushes = []
    monkeypatch.setattr(classify, "notify_finished_many", pushes.append)

    tasks.classify_image(row.pk)

    again = Classification.objects.get(pk=row.pk)
    assert counting.calls == [1]
    assert pushes == []
    assert (again.status, again.finished_at, again.probabilities) == ("done", done.finished_at, done.probabilities)


def test_done_rows_in_a_batch_are_skipped_and_the_rest_classified(counting):
    done, fresh = queued_rows(2)
    tasks.classify_image(done.pk)
    tasks.classify_image.delay(done.pk)  # redelivered while a new image waits
    tasks.classify_image.delay(fresh.pk)

    tasks.classify_image(fresh.pk)

    assert counting.calls == [1, 1]
    assert Classification.objects.get(pk=fresh.pk).status == "done"
    assert queue_length() == 0


def test_an_unreadable_image_fails_alone(counting):
    good, broken, other = queued_rows(3)
    with broken.image.open("wb") as fh:
        fh.write(b"no longer an image")
    for row in (broken, other):
        tasks.classify_image.delay(row.pk)

    tasks.classify_image(good.pk)

    statuses = dict(Classification.objects.filter(pk__in=[good.pk, broken.pk, other.pk]).values_list("pk", "status"))
    assert statuses == {good.pk: "done", broken.pk: "failed", other.pk: "done"}
    assert counting.calls == [2]


def test_a_batch_that_fails_as_a_whole_gives_its_companions_back(counting, monkeypatch):
    first, *waiting = queued_rows(3)
    for row in waiting:
        tasks.classify_image.delay(row.pk)

    def database_gone(ids, load_model):
        raise ConnectionError("database gone")

    monkeypatch.setattr(classify, "classify_stored_images", database_gone)
    with pytest.raises(ConnectionError):
        tasks.classify_image(first.pk)

    assert queue_length() == 2  # their own tasks will run them
    assert counting.calls == []


def test_other_messages_are_left_in_the_queue(counting):
    first, later, behind = queued_rows(3)
    tasks.classify_image.apply_async((later.pk,), countdown=3600)  # scheduled: not for now
    tasks.classify_image.delay(behind.pk)

    tasks.classify_image(first.pk)

    assert counting.calls == [1]
    assert queue_length() == 2


def test_warming_a_new_worker_process_up_changes_no_row_and_puts_back_what_it_took(active_tiny_model):
    """The start-up warm-up runs the task's broker take and queries for real, and must leave no trace."""
    first, second = queued_rows(2)
    tasks.classify_image.delay(first.pk)
    before = {row.pk: (row.status, row.started_at) for row in Classification.objects.all()}

    process_model._warm_up_task_path()

    assert {row.pk: (row.status, row.started_at) for row in Classification.objects.all()} == before
    assert queue_length() == 1  # the message it took to warm the take went back
    [task] = queueing.take_waiting(queueing.CLASSIFY_IMAGE, 5)
    assert task.args == [first.pk]
    queueing.settle([task], "ack")


def _rpops() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return int(client.info("commandstats").get("cmdstat_rpop", {}).get("calls", 0))


def test_looking_into_an_empty_queue_for_company_costs_one_redis_command(active_tiny_model):
    """One list a queue (priority_steps): every batch's take ends by finding the queue empty, and kombu's
    default four priority lists made that four RPOPs."""
    queueing.take_waiting(queueing.CLASSIFY_IMAGE, 5)  # the connection and its channel are made once
    before = _rpops()
    assert queueing.take_waiting(queueing.CLASSIFY_IMAGE, 5) == []
    assert _rpops() - before == 1


def test_a_message_published_with_a_priority_is_still_taken_as_company(counting):
    first, waiting = queued_rows(2)
    tasks.classify_image.apply_async(args=[waiting.pk], priority=9)

    tasks.classify_image(first.pk)

    assert counting.calls == [2]
    assert queue_length() == 0
