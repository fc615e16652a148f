"""Events from frames, near-duplicates counted but not stored, History and the review queue by events,
and alert rules delivered to a signed webhook and by e-mail (retries, cooldown, a failing receiver)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from classification.alerts import rules
from classification.alerts.signing import new_secret
from classification.events import recording
from classification.events.frames import StreamTracker, accept_frame
from classification.models import Alert, AlertDelivery, AlertRule, Camera, Classification, Event
from classification.review import reviews
from tests.camera_servers import http_camera, photo_frames, webhook_receiver
from tests.capture_helpers import capture_service, wait_for
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("watcher", password="pw")


@pytest.fixture
def camera(owner):
    return Camera.objects.create(owner=owner, name="porch", kind=Camera.Kind.MJPEG, url="http://127.0.0.1:9/s.mjpg",
                                 interval_seconds=10)


def finished_frame(camera: Camera, label: str, confidence: float, at, active_model=None) -> Classification:
    """A frame of ``camera`` as the worker leaves it (stored, classified)."""
    row = Classification.objects.create(
        stream=camera.stream, source="camera", submitted_by=camera.owner, status="done", predicted_label=label,
        confidence=confidence, probabilities={label: confidence}, created_at=at, image="images/x.jpg",
        content_hash="0" * 64,
    )
    recording.record_results([row])
    row.refresh_from_db()
    return row


def test_consecutive_frames_with_one_label_form_an_event(camera):
    start = timezone.now() - timedelta(minutes=5)
    labels = ["no_human", "no_human", "uber_eats", "uber_eats", "uber_eats", "no_human"]
    confidences = [0.9, 0.8, 0.6, 0.95, 0.7, 0.9]
    rows = [finished_frame(camera, label, p, start + timedelta(seconds=10 * i))
            for i, (label, p) in enumerate(zip(labels, confidences))]
    late = finished_frame(camera, "no_human", 0.9, start + timedelta(seconds=50 + 600))  # after a long gap

    events = list(Event.objects.filter(camera=camera).order_by("started_at"))
    assert [(e.label, e.frame_count) for e in events] == [("no_human", 2), ("uber_eats", 3), ("no_human", 1),
                                                          ("no_human", 1)]
    courier = events[1]
    assert (courier.started_at, courier.ended_at) == (rows[2].created_at, rows[4].created_at)
    assert courier.peak_confidence == 0.95 and courier.best_frame == rows[3] and courier.owner == camera.owner
    assert rows[3].event == courier and late.event == events[-1]
    # A redelivered result changes nothing.
    recording.record_results([Classification.objects.get(pk=rows[3].pk)])
    assert Event.objects.get(pk=courier.pk).frame_count == 3


def test_a_nearly_identical_frame_is_counted_not_stored(camera, settings):
    tracker = StreamTracker(camera.stream)
    picture = photo_frames(1)[0]
    first = accept_frame(picture, tracker, source="camera", user=camera.owner).stored
    # Before the first is classified its label is unknown: a repeat is stored.
    assert accept_frame(picture, tracker, source="camera", user=camera.owner).stored is not None
    Classification.objects.filter(stream=camera.stream).update(status="done", predicted_label="no_human",
                                                               confidence=0.9)
    recording.record_results(Classification.objects.filter(stream=camera.stream))
    for _ in range(3):
        outcome = accept_frame(picture, tracker, source="camera", user=camera.owner)
        assert outcome.stored is None and outcome.repeated_in is not None
    different = accept_frame(photo_frames(2)[1], tracker, source="camera", user=camera.owner)
    assert different.stored is not None

    event = Event.objects.get(camera=camera)
    assert (event.frame_count, event.stored_count) == (5, 2)
    assert Classification.objects.filter(stream=camera.stream).count() == 3
    assert first.pk in set(event.frames.values_list("pk", flat=True))

    settings.CLASSIFIER = {**settings.CLASSIFIER, "EVENTS_KEEP_EVERY_FRAME": True}
    Classification.objects.filter(pk=different.stored.pk).update(status="done", predicted_label="no_human")
    assert accept_frame(photo_frames(2)[1], tracker, source="camera", user=camera.owner).stored is not None


def test_history_and_the_review_queue_show_events_not_frames(client, camera, django_user_model, active_tiny_model):
    start = timezone.now() - timedelta(minutes=1)
    frames = [finished_frame(camera, "uber_eats", 0.5 + i / 10, start + timedelta(seconds=i)) for i in range(4)]
    upload = Classification.objects.create(status="done", predicted_label="human", confidence=0.7,
                                           image="images/u.jpg", original_name="upload.jpg", content_hash="1" * 64,
                                           submitted_by=camera.owner)
    client.force_login(camera.owner)  # History shows its reader's own uploads and events
    page = client.get("/history/").content.decode()
    assert page.count('data-event="') == 1 and "4 frames" in page and "upload.jpg" in page
    assert f'data-id="{frames[0].public_id}"' not in page
    assert 'data-count="2">2</span> <span id="history-count-noun">entries</span>' in page
    assert client.get("/history/?source=upload").content.decode().count('data-event="') == 0
    assert 'data-event="' in client.get("/history/?source=camera&label=uber_eats").content.decode()
    client.force_login(django_user_model.objects.create_user("neighbour"))
    assert 'data-event="' not in client.get("/history/").content.decode()  # someone else's camera: not theirs

    queue = list(reviews.review_queue())
    event = Event.objects.get()
    assert {row.pk for row in queue} == {upload.pk, event.best_frame_id}
    reviewer = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    reviews.review(event.best_frame, label="human", user=reviewer, whole_event=True)
    assert set(event.frames.values_list("reviewed_label", flat=True)) == {"human"}
    assert list(reviews.review_queue()) == [upload]


def _rule(camera, **options) -> AlertRule:
    options = {"label": "uber_eats", "min_confidence": 0.8, "min_frames": 2, "cooldown_seconds": 300, **options}
    rule = AlertRule.objects.create(owner=camera.owner, name="courier", **options)
    rule.cameras.add(camera)
    return rule


def test_a_rule_fires_once_per_event_after_enough_confident_frames_and_respects_its_cooldown(camera, monkeypatch):
    queued = []
    monkeypatch.setattr("classification.queueing.deliver_alert", queued.append)
    rule = _rule(camera, webhook_url="http://127.0.0.1:9/hook", webhook_secret="s" * 32, email_to="me@example.com")
    now = timezone.now() - timedelta(minutes=10)
    finished_frame(camera, "uber_eats", 0.9, now)
    finished_frame(camera, "uber_eats", 0.5, now + timedelta(seconds=10))  # below the minimum: streak restarts
    finished_frame(camera, "uber_eats", 0.9, now + timedelta(seconds=20))
    assert not Alert.objects.exists()
    finished_frame(camera, "uber_eats", 0.85, now + timedelta(seconds=30))
    finished_frame(camera, "uber_eats", 0.99, now + timedelta(seconds=40))  # same event: no second alert
    alert = Alert.objects.get()
    assert (alert.rule, alert.camera, alert.frame_count) == (rule, camera, 2)
    assert sorted(d.channel for d in alert.deliveries.all()) == ["email", "webhook"]
    assert sorted(queued) == sorted(alert.deliveries.values_list("pk", flat=True))

    # A new event within the cooldown: held back; another camera's rule is not the same cooldown.
    finished_frame(camera, "no_human", 0.9, now + timedelta(seconds=50))
    for i in range(3):
        finished_frame(camera, "uber_eats", 0.9, now + timedelta(seconds=60 + 10 * i))
    assert Alert.objects.count() == 1
    rule.cooldown_seconds = 0
    rule.save()
    finished_frame(camera, "no_human", 0.9, now + timedelta(seconds=100))
    for i in range(2):
        finished_frame(camera, "uber_eats", 0.9, now + timedelta(seconds=110 + 10 * i))
    assert Alert.objects.count() == 2
    # Rules of other owners, or for other labels, never fire.
    assert rules.rules_for(Event(camera=camera, owner_id=camera.owner_id + 1, label="uber_eats")).count() == 0


def _fire(camera, rule) -> Alert:
    now = timezone.now()
    for i in range(rule.min_frames):
        finished_frame(camera, rule.label, 0.95, now + timedelta(seconds=i))
    return Alert.objects.get(rule=rule)


def test_webhook_deliveries_are_signed_and_counted_and_mail_is_sent(camera, celery_worker):
    secret = new_secret()
    with webhook_receiver(secret) as receiver:
        rule = _rule(camera, webhook_url=receiver.url, webhook_secret=secret, email_to="a@example.com, b@example.com")
        alert = _fire(camera, rule)
        wait_for(lambda: AlertDelivery.objects.filter(alert=alert, status="delivered").count() == 2, timeout=60)
    assert receiver.bad_signatures == 0 and len(receiver.received) == 1
    body = receiver.received[0]
    assert (body["camera"]["id"], body["label"], body["frames"], body["rule"]["name"]) == (str(camera.public_id), "uber_eats", 2,
                                                                                         "courier")
    webhook = alert.deliveries.get(channel="webhook")
    assert body["delivery"] == str(webhook.pk) and webhook.response_status == 200 and webhook.attempts == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["a@example.com", "b@example.com"]
    assert "uber_eats" in mail.outbox[0].subject and camera.name in mail.outbox[0].subject


def test_a_failing_receiver_is_retried_then_logged_as_failed(camera, celery_worker, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "ALERT_MAX_ATTEMPTS": 3, "ALERT_RETRY_BACKOFF_SECONDS": 0.3}
    secret = new_secret()
    with webhook_receiver(secret, status=503) as receiver:
        rule = _rule(camera, webhook_url=receiver.url, webhook_secret=secret)
        alert = _fire(camera, rule)
        delivery = wait_for(lambda: AlertDelivery.objects.filter(alert=alert, status="failed").first(), timeout=60)
    assert receiver.attempts == 3 and receiver.bad_signatures == 0
    assert delivery.attempts == 3 and delivery.response_status == 503 and "HTTP 503" in delivery.last_error


def test_a_delivery_is_attempted_once_at_a_time_and_never_after_it_finished(camera, monkeypatch):
    from classification.alerts import delivery

    monkeypatch.setattr("classification.queueing.deliver_alert", lambda pk: None)
    posts = []
    monkeypatch.setattr(delivery.requests, "post", lambda url, **kw: posts.append(url) or type("R", (), {"status_code": 204})())
    alert = _fire(camera, _rule(camera, webhook_url="http://127.0.0.1:9/hook", webhook_secret="s" * 32))
    pending = alert.deliveries.get()
    AlertDelivery.objects.filter(pk=pending.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    wait = delivery.deliver(pending.pk)  # a redelivered task while another attempt is under way
    assert posts == [] and 25 < wait <= 30
    AlertDelivery.objects.filter(pk=pending.pk).update(claimed_until=None)
    assert delivery.deliver(pending.pk) is None and len(posts) == 1
    assert delivery.deliver(pending.pk) is None and len(posts) == 1  # delivered: nothing more
    done = AlertDelivery.objects.get(pk=pending.pk)
    assert (done.status, done.attempts, done.response_status) == ("delivered", 1, 204)


def test_camera_frames_become_events_on_the_dashboard_socket_and_fire_an_alert(
    camera, active_tiny_model, celery_worker, settings
):
    """The whole path: capture → intake → worker → event → alert → signed webhook."""
    settings.CLASSIFIER = {**settings.CLASSIFIER, "CAPTURE_READ_TIMEOUT_SECONDS": 3.0}
    secret = new_secret()
    with http_camera(photo_frames(1), fps=4) as source, webhook_receiver(secret) as receiver:
        Camera.objects.filter(pk=camera.pk).update(url=f"{source.base}/stream.mjpg", interval_seconds=1)
        with capture_service(lease_seconds=6):
            first = wait_for(lambda: Classification.objects.filter(stream=camera.stream, status="done").first())
            rule = _rule(camera, label=first.predicted_label, min_confidence=0.0, min_frames=3,
                         webhook_url=receiver.url, webhook_secret=secret)
            wait_for(lambda: receiver.received, timeout=60, message="no alert reached the webhook")
            wait_for(lambda: Event.objects.get(camera=camera).frame_count >= 6, timeout=30)
    event = Event.objects.get(camera=camera)
    assert event.label == first.predicted_label
    assert event.stored_count <= 2 < event.frame_count  # one picture over and over: counted, not stored
    assert Classification.objects.filter(stream=camera.stream).count() == event.stored_count
    assert Alert.objects.filter(rule=rule).count() == 1 and len(receiver.received) == 1
    assert receiver.received[0]["event"]["id"] == event.pk


def test_webcam_sessions_form_events_too(active_tiny_model, celery_worker):
    import asyncio

    from channels.db import database_sync_to_async

    from tests.test_websockets import connect, receive_until, run

    picture = image_bytes("JPEG", size=(320, 240), color=(10, 120, 200))

    async def scenario():
        communicator, _ = await connect()
        await communicator.receive_json_from()
        await communicator.send_to(bytes_data=picture)
        await receive_until(communicator, "result")
        for _ in range(100):  # the worker records the event just after pushing the result
            if await database_sync_to_async(Event.objects.filter(source="webcam").exists)():
                break
            await asyncio.sleep(0.1)
        await communicator.send_to(bytes_data=picture)
        unchanged = await receive_until(communicator, "unchanged")
        await communicator.disconnect()
        return unchanged

    unchanged = run(scenario)
    event = Event.objects.get(source="webcam")
    assert event.stream.startswith("webcam:") and (event.frame_count, event.stored_count) == (2, 1)
    assert unchanged["event"]["id"] == event.pk
    assert unchanged["classification"]["id"] == str(event.best_frame.public_id)
