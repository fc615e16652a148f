"""Websocket consumers over the real channels-redis layer, with a real worker pushing results."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from classification.models import Classification
from classifier_site.asgi import application
from tests.conftest import image_bytes, stored_files

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://localhost")]


def run(scenario):
    """Run an async scenario from a sync test (pytest-django's DB access stays sync)."""
    return async_to_sync(scenario)()


async def connect(path="/ws/webcam/", headers=ORIGIN):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    return communicator, connected


async def receive_until(communicator, kind: str, timeout: float = 60):
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message["type"] == kind:
                return message


def test_webcam_frame_is_classified_and_pushed_back(active_tiny_model, celery_worker):
    async def scenario():
        communicator, connected = await connect()
        assert connected
        ready = await communicator.receive_json_from()
        assert ready == {"type": "ready", "max_in_flight": 2, "push": True}

        await communicator.send_to(bytes_data=image_bytes("JPEG", size=(320, 240)))
        accepted = await receive_until(communicator, "accepted")
        result = await receive_until(communicator, "result")
        await communicator.disconnect()
        return accepted, result

    accepted, result = run(scenario)

    assert accepted["classification"]["status"] == "queued"
    assert result["classification"]["id"] == accepted["classification"]["id"]
    assert result["classification"]["status"] == "done"
    assert result["in_flight"] == 0
    row = Classification.objects.get(public_id=result["classification"]["id"])
    assert (row.source, row.status, row.predicted_label) == ("webcam", "done", result["classification"]["predicted_label"])


def test_live_feed_receives_results_from_every_source(client, active_tiny_model, celery_worker):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    client.get(reverse("history"))  # the page gives this browser its session, which the socket then carries
    session = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]

    async def scenario():
        feed, connected = await connect("/ws/classifications/", headers=ORIGIN + session)
        assert connected
        await asyncio.sleep(0.2)  # the group subscription is in place before anything finishes
        from channels.db import database_sync_to_async

        response = await database_sync_to_async(client.post)(
            reverse("upload"),
            {"files": [SimpleUploadedFile("u.jpg", image_bytes(), "image/jpeg")]},
            HTTP_ACCEPT="application/json",
        )
        pushed = await receive_until(feed, "result")
        await feed.disconnect()
        return response.json()["accepted"][0]["id"], pushed

    upload_id, pushed = run(scenario)
    assert pushed["classification"]["id"] == upload_id
    assert pushed["classification"]["source"] == "upload"


def test_the_live_feed_relays_a_result_without_handing_it_to_a_thread(client, monkeypatch):
    """Channels hands every message to a thread first (to close database connections); results need none."""
    from asgiref import sync
    from channels.layers import get_channel_layer
    from django.urls import reverse

    from classification.privacy.owners import SESSION_FIELD
    from classification.serving.notifications import FINISHED_EVENT, owner_group

    client.get(reverse("history"))
    session = client.session
    session[SESSION_FIELD] = "a" * 32  # as a visitor's first upload leaves it
    session.save()
    cookie = [(b"cookie", f"sessionid={session.session_key}".encode())]
    hand_offs = []
    original = sync.SyncToAsync.__call__

    async def scenario():
        feed, connected = await connect("/ws/classifications/", headers=ORIGIN + cookie)
        assert connected
        await asyncio.sleep(0.2)  # subscribed
        monkeypatch.setattr(sync.SyncToAsync, "__call__",
                            lambda self, *a, **k: (hand_offs.append(self.func), original(self, *a, **k))[1])
        await get_channel_layer().group_send(owner_group(None, "a" * 32),
                                             {"type": FINISHED_EVENT, "classification": {"id": "x"}})
        pushed = await receive_until(feed, "result", timeout=10)
        monkeypatch.undo()
        await feed.disconnect()
        return pushed

    assert run(scenario)["classification"] == {"id": "x"}
    assert hand_offs == []


@pytest.mark.parametrize(
    "frame, code",
    [(b"definitely not an image", "unsupported_type"), (image_bytes("JPEG")[:200], "corrupt_image")],
)
def test_undecodable_frames_are_refused_and_the_socket_stays_usable(active_tiny_model, frame, code):
    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        await communicator.send_to(bytes_data=frame)
        refused = await communicator.receive_json_from()
        await communicator.send_to(bytes_data=image_bytes())
        accepted = await communicator.receive_json_from()
        await communicator.disconnect()
        return refused, accepted

    before = stored_files()
    refused, accepted = run(scenario)
    assert refused["type"] == "rejected" and refused["code"] == code and refused["message"]
    assert accepted["type"] == "accepted"
    assert Classification.objects.count() == 1
    assert len(stored_files() - before) == 1  # the good frame only (the worker makes its thumbnail)


def test_oversized_frame_is_refused(active_tiny_model, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "WEBCAM_MAX_FRAME_BYTES": 100}

    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        await communicator.send_to(bytes_data=image_bytes())
        refused = await communicator.receive_json_from()
        await communicator.send_to(text_data='{"hello": 1}')
        text_refused = await communicator.receive_json_from()
        await communicator.disconnect()
        return refused, text_refused

    refused, text_refused = run(scenario)
    assert refused["code"] == "frame_too_large" and "limit is 100" in refused["message"]
    assert text_refused["code"] == "binary_expected"
    assert not Classification.objects.exists()


def test_a_client_never_has_more_frames_in_flight_than_allowed(active_tiny_model, settings):
    # No worker runs here, so nothing finishes: the third frame must be refused.
    settings.CLASSIFIER = {**settings.CLASSIFIER, "WEBCAM_MAX_IN_FLIGHT": 2}

    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        replies = []
        for _ in range(3):
            await communicator.send_to(bytes_data=image_bytes())
            replies.append(await communicator.receive_json_from())
        await communicator.disconnect()
        return replies

    replies = run(scenario)
    assert [reply["type"] for reply in replies] == ["accepted", "accepted", "rejected"]
    assert replies[1]["in_flight"] == 2
    assert replies[2]["code"] == "busy"
    assert Classification.objects.count() == 2


@pytest.mark.parametrize("headers", [[(b"origin", b"http://evil.example")], []], ids=["foreign-origin", "no-origin"])
def test_sockets_from_other_origins_are_refused(db, headers):
    async def scenario():
        communicator, connected = await connect(headers=headers)
        if connected:
            await communicator.disconnect()
        return connected

    assert run(scenario) is False


def test_an_idle_socket_stays_open_longer_than_the_layer_blocking_read(active_tiny_model):
    """A webcam page sends a frame every 10 s: the socket must survive the silence in between."""

    async def scenario():
        communicator, connected = await connect()
        assert connected
        await communicator.receive_json_from()
        await asyncio.sleep(7)  # longer than channels-redis' 5 s blocking read
        await communicator.send_to(bytes_data=image_bytes())
        reply = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return reply

    assert run(scenario)["type"] == "accepted"


# --- in-flight slots come back however a frame ends -------------------------------------------------


def _finish_silently(public_id: str, status: str = "done") -> None:
    """What a lost push leaves: the row finished in the database, and nothing told the socket."""
    Classification.objects.filter(public_id=public_id).update(status=status, predicted_label="human", confidence=0.9)


@pytest.fixture
def every_frame_stored(settings):
    """Two slots, and every frame stored (the same test picture twice is not counted as a repeat)."""
    settings.CLASSIFIER = {**settings.CLASSIFIER, "WEBCAM_MAX_IN_FLIGHT": 2, "EVENTS_KEEP_EVERY_FRAME": True}


@pytest.mark.parametrize("status", ["done", "failed"])
def test_a_frame_finished_without_a_push_frees_its_slot(active_tiny_model, every_frame_stored, status):
    """No worker runs: rows are finished by hand, as if their push had been lost (or their worker died after saving)."""
    from channels.db import database_sync_to_async

    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        accepted = []
        for _ in range(2):
            await communicator.send_to(bytes_data=image_bytes())
            accepted.append(await receive_until(communicator, "accepted"))
        await database_sync_to_async(_finish_silently)(accepted[0]["classification"]["id"], status)
        await communicator.send_to(bytes_data=image_bytes())  # slots full: the socket looks the frames up
        replies = [await communicator.receive_json_from(), await communicator.receive_json_from()]
        await communicator.disconnect()
        return accepted, replies

    accepted, (result, third) = run(scenario)
    assert result["type"] == "result" and result["classification"]["id"] == accepted[0]["classification"]["id"]
    assert result["classification"]["status"] == status
    assert third["type"] == "accepted" and third["in_flight"] == 2
    assert Classification.objects.count() == 3


def test_a_frame_with_no_result_gives_its_slot_back_after_the_timeout(active_tiny_model, every_frame_stored, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "WEBCAM_FRAME_TIMEOUT_SECONDS": 1.0}

    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        for _ in range(2):
            await communicator.send_to(bytes_data=image_bytes())
            await receive_until(communicator, "accepted")
        await communicator.send_to(bytes_data=image_bytes())
        busy = await communicator.receive_json_from()
        await asyncio.sleep(1.2)
        await communicator.send_to(bytes_data=image_bytes())
        replies = [await communicator.receive_json_from() for _ in range(3)]
        await communicator.disconnect()
        return busy, replies

    busy, replies = run(scenario)
    assert busy["code"] == "busy"
    assert [reply["type"] for reply in replies] == ["expired", "expired", "accepted"]
    assert "60" not in replies[0]["message"] and "1 s" in replies[0]["message"]
    assert replies[2]["in_flight"] == 1


def test_without_redis_the_page_is_told_to_poll_and_a_poll_answers_finished_frames(
    active_tiny_model, every_frame_stored, settings
):
    """The no-Redis fallback's layer is in memory: workers cannot push, so the page polls on the socket."""
    from channels.db import database_sync_to_async

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    async def scenario():
        communicator, _ = await connect()
        ready = await communicator.receive_json_from()
        await communicator.send_to(bytes_data=image_bytes())
        accepted = await receive_until(communicator, "accepted")
        await communicator.send_to(text_data='{"type": "poll"}')  # not finished yet: nothing to say
        assert await communicator.receive_nothing(timeout=0.5)
        await database_sync_to_async(_finish_silently)(accepted["classification"]["id"])
        await communicator.send_to(text_data='{"type": "poll"}')
        result = await communicator.receive_json_from()
        await communicator.send_to(text_data='{"type": "poll"}')  # answered once only
        quiet = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return ready, accepted, result, quiet

    ready, accepted, result, quiet = run(scenario)
    assert ready["push"] is False
    assert result["type"] == "result" and result["in_flight"] == 0
    assert result["classification"]["id"] == accepted["classification"]["id"]
    assert quiet


def test_a_late_frame_holds_no_slot_but_is_still_looked_up_until_answered():
    from classification.events.inflight import FramesInFlight

    now = [0.0]
    frames = FramesInFlight(limit=2, timeout_s=60, clock=lambda: now[0])
    frames.add("a")
    now[0] = 30.0
    frames.add("b")
    assert frames.full() and frames.expire() == []
    now[0] = 60.0
    assert frames.expire() == ["a"] and not frames.full() and len(frames) == 1
    assert frames.unanswered() == ["b", "a"]
    assert frames.free("a") is False  # answered late: it held no slot any more
    assert frames.free("b") is True and frames.unanswered() == []


@pytest.mark.parametrize("consumer_path", ["classification.web.camera_socket.CameraDashboardConsumer",
                                           "classification.web.consumers.LiveFeedConsumer"])
def test_a_batch_s_message_is_relayed_one_result_at_a_time(consumer_path):
    """A worker sends a batch's results for one group in one message; pages still get one frame per result,
    and a message of the older one-result shape still works."""
    from django.utils.module_loading import import_string

    from classification.serving.notifications import FINISHED_EVENT

    consumer = import_string(consumer_path)()
    sent = []

    async def send_json(content, close=False):
        sent.append(content)

    async def scenario():
        await consumer.classification_finished({"type": FINISHED_EVENT, "classifications": [{"id": "a"}, {"id": "b"}]})
        await consumer.classification_finished({"type": FINISHED_EVENT, "classification": {"id": "c"}})

    consumer.send_json = send_json
    run(scenario)
    assert [message["classification"]["id"] for message in sent] == ["a", "b", "c"]
