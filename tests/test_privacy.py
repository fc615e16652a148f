"""Each person's photos are theirs: two users and two anonymous browser sessions try each other's everything.

Pages, images, thumbnails, status polling, the API and the live feed show a
person only their own classifications; someone else's answers 404 with none
of its data. Staff with the view permission see everything in the admin and
through the API's ``owner=all``, not on the pages. Owners correct and delete
their uploads; anonymous uploads follow their visitor into an account.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from classification.intake.submission import submit_image
from classification.models import Classification
from classification.privacy.owners import SESSION_FIELD
from classification.serving.notifications import notify_finished, notify_finished_many, pushed_results
from classifier_site.asgi import application
from tests.conftest import image_bytes, stored_files
from tests.test_api import fresh_throttle_cache, token_client  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # consumers read sessions on their own connections

ORIGIN = (b"origin", b"http://localhost")


@dataclass
class Person:
    name: str
    client: Client
    row: Classification
    user: object = None
    owner_key: str = ""


def _finish(row: Classification, label: str = "human") -> Classification:
    others = {"human": 0.1, "no_human": 0.1, "uber_eats": 0.1}
    Classification.objects.filter(pk=row.pk).update(
        status="done", predicted_label=label, confidence=0.8, probabilities={**others, label: 0.8},
        finished_at=timezone.now(),
    )
    return Classification.objects.get(pk=row.pk)


@pytest.fixture
def people(active_tiny_model, django_user_model) -> list[Person]:
    """alice and bob signed in, two anonymous visitors, each with one finished upload named after them."""
    people = []
    for name in ("alice", "bob"):
        user = django_user_model.objects.create_user(name, password=f"pw-{name}-123")
        client = Client()
        client.force_login(user)
        row = submit_image(data=image_bytes(color=(len(people) * 50, 9, 9)), original_name=f"{name}.jpg", user=user)
        people.append(Person(name, client, _finish(row), user=user))
    for name in ("visitor1", "visitor2"):
        client = Client()
        assert client.get(reverse("history")).status_code == 200  # a page gives the visitor a session
        key = client.session[SESSION_FIELD]
        row = submit_image(data=image_bytes(color=(len(people) * 50, 9, 9)), original_name=f"{name}.jpg", owner_key=key)
        people.append(Person(name, client, _finish(row), owner_key=key))
    assert len({person.owner_key for person in people[2:]}) == 2
    return people


def _pairs(people):
    return [(me, other) for me in people for other in people if me is not other]


def test_pages_images_and_status_show_only_your_own(people):
    for me in people:
        history = me.client.get(reverse("history")).content.decode()
        assert f"{me.name}.jpg" in history
        mine = me.row.public_id
        assert me.client.get(reverse("classification-detail", args=[mine])).status_code == 200
        assert me.client.get(reverse("classification-image", args=[mine])).status_code == 200
        assert me.client.get(reverse("classification-thumbnail", args=[mine])).status_code == 200
        polled = me.client.get(reverse("classification-status"), {"ids": str(mine)}).json()["classifications"]
        assert [item["id"] for item in polled] == [str(mine)]

    for me, other in _pairs(people):
        theirs = other.row.public_id
        assert f"{other.name}.jpg" not in me.client.get(reverse("history")).content.decode()
        assert f"{other.name}.jpg" not in me.client.get(reverse("upload")).content.decode()
        for name in ("classification-detail", "classification-image", "classification-thumbnail"):
            response = me.client.get(reverse(name, args=[theirs]))
            assert response.status_code == 404, (me.name, other.name, name)
            assert other.name.encode() not in b"".join(getattr(response, "streaming_content", [response.content]))
        polled = me.client.get(reverse("classification-status"), {"ids": f"{me.row.public_id},{theirs}"})
        assert [item["id"] for item in polled.json()["classifications"]] == [str(me.row.public_id)]
        assert me.client.post(reverse("classification-correct", args=[theirs]), {"label": "no_human"}).status_code == 404
        assert me.client.post(reverse("classification-delete", args=[theirs])).status_code == 404
    assert Classification.objects.count() == 4
    assert not Classification.objects.exclude(suggested_label="").exists()


def test_the_api_shows_each_client_only_its_own(people):
    for me in people[:2]:
        api = token_client(me.user)
        listed = api.get("/api/v1/classifications/").json()
        assert [item["original_name"] for item in listed["results"]] == [f"{me.name}.jpg"]
        for other in people:
            if other is me:
                continue
            url = f"/api/v1/classifications/{other.row.public_id}/"
            assert api.get(url).status_code == 404
            assert api.delete(url).status_code == 404
            assert api.post(f"{url}suggestion/", {"label": "no_human"}, format="json").status_code == 404
    for me in people[2:]:  # anonymous visitors read through their browser session
        listed = me.client.get("/api/v1/classifications/").json()
        assert [item["original_name"] for item in listed["results"]] == [f"{me.name}.jpg"]
        for other in people:
            if other is not me:
                assert me.client.get(f"/api/v1/classifications/{other.row.public_id}/").status_code == 404
    assert Client().get("/api/v1/classifications/").json()["count"] == 0  # no session: nothing
    assert Classification.objects.count() == 4


def test_staff_with_the_view_permission_see_everything_in_the_admin_and_with_owner_all(people, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_classification"))
    plain_staff = django_user_model.objects.create_user("plain", is_staff=True)

    everyone = token_client(viewer).get("/api/v1/classifications/", {"owner": "all"}).json()
    assert sorted(item["original_name"] for item in everyone["results"]) == sorted(f"{p.name}.jpg" for p in people)
    assert token_client(viewer).get("/api/v1/classifications/").json()["count"] == 0  # not by default
    refused = token_client(plain_staff).get("/api/v1/classifications/", {"owner": "all"})
    assert refused.status_code == 403 and "view permission" in refused.json()["error"]["message"]
    assert token_client(people[0].user).get("/api/v1/classifications/", {"owner": "all"}).status_code == 403

    admin = Client()
    admin.force_login(viewer)
    changelist = admin.get(reverse("admin:classification_classification_changelist")).context["cl"]
    assert {row.pk for row in changelist.result_list} == {p.row.pk for p in people}
    image = admin.get(reverse("admin:classification_classification_image", args=[people[0].row.pk]))
    assert image.status_code == 200
    assert admin.get(reverse("classification-image", args=[people[0].row.public_id])).status_code == 404  # pages: own
    assert f"{people[0].name}.jpg" not in admin.get(reverse("history")).content.decode()

    plain = Client()
    plain.force_login(plain_staff)
    assert plain.get(reverse("admin:classification_classification_image", args=[people[0].row.pk])).status_code == 403


def test_live_pushes_reach_only_their_owner(people, settings):
    """Each person's live-feed socket (their history page's) gets their own result and nobody else's."""

    def cookie(person):
        return (b"cookie", f"sessionid={person.client.cookies['sessionid'].value}".encode())

    async def scenario():
        feeds = []
        for person in people:
            feed = WebsocketCommunicator(application, "/ws/classifications/", headers=[ORIGIN, cookie(person)])
            connected, _ = await feed.connect(timeout=10)
            assert connected
            feeds.append(feed)
        await asyncio.sleep(0.3)  # every group subscription is in place
        for person in people:
            await database_sync_to_async(notify_finished)(person.row)
        received = []
        for feed in feeds:
            message = await feed.receive_json_from(timeout=10)
            assert await feed.receive_nothing(timeout=1)  # and nothing else: nobody else's result
            received.append(message["classification"]["id"])
            await feed.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert received == [str(person.row.public_id) for person in people]


def test_a_batch_s_results_reach_each_owner_in_one_message(people, monkeypatch):
    """A micro-batch's results for one owner travel as one channel-layer message; the feed relays each of them,
    and nobody gets another's."""
    from channels.layers import get_channel_layer

    alice, bob = people[0], people[1]
    second = _finish(submit_image(data=image_bytes(color=(7, 70, 7)), original_name="alice-2.jpg", user=alice.user))
    layer = get_channel_layer()
    sent = []
    original = type(layer).group_send

    async def counted(self, group, message):
        sent.append((group, len(pushed_results(message))))
        return await original(self, group, message)

    def cookie(person):
        return (b"cookie", f"sessionid={person.client.cookies['sessionid'].value}".encode())

    async def scenario():
        feeds = []
        for person in (alice, bob):
            feed = WebsocketCommunicator(application, "/ws/classifications/", headers=[ORIGIN, cookie(person)])
            connected, _ = await feed.connect(timeout=10)
            assert connected
            feeds.append(feed)
        await asyncio.sleep(0.3)  # both subscriptions are in place
        monkeypatch.setattr(type(layer), "group_send", counted)
        await database_sync_to_async(notify_finished_many)([alice.row, bob.row, second])
        received = []
        for feed, count in zip(feeds, (2, 1)):
            received.append([(await feed.receive_json_from(timeout=10))["classification"]["id"] for _ in range(count)])
            assert await feed.receive_nothing(timeout=1)
            await feed.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert received == [[str(alice.row.public_id), str(second.public_id)], [str(bob.row.public_id)]]
    assert sorted(count for _, count in sent) == [1, 2]  # one message per owner, alice's carrying both


def test_a_socket_without_a_session_joins_no_one(people):
    async def scenario():
        feed = WebsocketCommunicator(application, "/ws/classifications/", headers=[ORIGIN])
        connected, _ = await feed.connect(timeout=10)
        assert connected
        for person in people:
            await database_sync_to_async(notify_finished)(person.row)
        assert await feed.receive_nothing(timeout=1.5)
        await feed.disconnect()

    async_to_sync(scenario)()


def test_webcam_frames_belong_to_the_socket_s_session(active_tiny_model):
    client = Client()
    client.get(reverse("webcam"))
    key = client.session[SESSION_FIELD]

    async def send_frame(headers):
        socket = WebsocketCommunicator(application, "/ws/webcam/", headers=headers)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await socket.receive_json_from()
        await socket.send_to(bytes_data=image_bytes())
        accepted = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return accepted["classification"]["id"]

    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    with_page = async_to_sync(send_frame)([ORIGIN, cookie])
    without_session = async_to_sync(send_frame)([ORIGIN])

    assert Classification.objects.get(public_id=with_page).owner_key == key
    stray = Classification.objects.get(public_id=without_session)
    assert stray.owner_key and stray.owner_key != key  # a key of its own, never someone else's or none
    assert client.get(reverse("classification-detail", args=[with_page])).status_code == 200
    assert client.get(reverse("classification-detail", args=[without_session])).status_code == 404


def test_a_visitor_who_signs_in_keeps_their_uploads(active_tiny_model, django_user_model):
    user = django_user_model.objects.create_user("carol", password="pw-carol-123")
    client = Client()
    client.get(reverse("history"))
    row = submit_image(data=image_bytes(), original_name="before.jpg", owner_key=client.session[SESSION_FIELD])

    assert client.post(reverse("login"), {"username": "carol", "password": "pw-carol-123"}).status_code == 302
    row.refresh_from_db()
    assert (row.submitted_by, row.owner_key) == (user, "")
    assert client.get(reverse("classification-detail", args=[row.public_id])).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("classification-detail", args=[row.public_id])).status_code == 404


def test_public_ids_are_uuids_and_sequential_ids_are_no_address(people):
    me = people[0]
    payload = me.client.get(reverse("classification-status"), {"ids": str(me.row.public_id)}).json()
    [item] = payload["classifications"]
    assert uuid.UUID(item["id"]) == me.row.public_id
    for key in ("detail_url", "image_url", "thumbnail_url"):
        assert str(me.row.public_id) in item[key] and f"/{me.row.pk}/" not in item[key]
    assert me.client.get(f"/classifications/{me.row.pk}/").status_code == 404
    assert me.client.get(f"/api/v1/classifications/{me.row.pk}/").status_code == 404


# --- the owner's corrections and deletions ------------------------------------------


def test_the_owner_suggests_a_label_and_it_waits_first_in_the_review_queue(people, django_user_model):
    visitor = people[2]
    page = visitor.client.get(reverse("classification-detail", args=[visitor.row.public_id])).content.decode()
    assert "This is wrong" in page
    response = visitor.client.post(reverse("classification-correct", args=[visitor.row.public_id]), {"label": "uber_eats"})
    assert response.status_code == 302
    row = Classification.objects.get(pk=visitor.row.pk)
    assert (row.suggested_label, row.suggested_by, row.reviewed_label) == ("uber_eats", None, "")  # staff decide
    assert row.suggested_at is not None
    assert "a reviewer will decide" in visitor.client.get(response["Location"]).content.decode()

    bad = visitor.client.post(reverse("classification-correct", args=[visitor.row.public_id]), {"label": "cat"})
    assert bad.status_code == 400 and "not a known class" in bad.content.decode()

    alice = people[0]
    api = token_client(alice.user)
    answer = api.post(f"/api/v1/classifications/{alice.row.public_id}/suggestion/", {"label": "no_human"}, format="json")
    assert answer.status_code == 200
    assert Classification.objects.get(pk=alice.row.pk).suggested_by == alice.user

    reviewer = django_user_model.objects.create_superuser("reviewer")
    staff = Client()
    staff.force_login(reviewer)
    queue = staff.get(reverse("admin:classification_reviewqueueitem_changelist")).context["cl"].result_list
    assert [row.pk for row in queue][:2] == [alice.row.pk, visitor.row.pk]  # suggestions first, newest first
    staff.post(reverse("admin:classification_classification_changelist"),
               {"action": "accept_suggestions", "_selected_action": [alice.row.pk, visitor.row.pk, people[1].row.pk]})
    reviewed = dict(Classification.objects.exclude(reviewed_label="").values_list("pk", "reviewed_label"))
    assert reviewed == {alice.row.pk: "no_human", visitor.row.pk: "uber_eats"}


def test_the_owner_deletes_an_upload_with_its_files(people, classify_now):
    me = people[3]
    Classification.objects.filter(pk=me.row.pk).update(status="queued")
    [me.row] = classify_now(me.row)  # the worker adds the thumbnail
    names = {me.row.image.name, me.row.thumbnail.name}
    assert me.row.thumbnail.name and names <= stored_files()

    response = me.client.post(reverse("classification-delete", args=[me.row.public_id]))

    assert response.status_code == 302 and response["Location"] == reverse("history")
    assert not Classification.objects.filter(pk=me.row.pk).exists()
    assert not names & stored_files()
    assert all(Classification.objects.filter(pk=p.row.pk).exists() for p in people[:3])

    alice = people[0]
    assert token_client(alice.user).delete(f"/api/v1/classifications/{alice.row.public_id}/").status_code == 204
    assert not Classification.objects.filter(pk=alice.row.pk).exists()
    assert alice.row.image.name not in stored_files()


# --- retention ----------------------------------------------------------------------


def test_expired_unreviewed_images_are_deleted_with_their_files_and_the_rest_stay(active_tiny_model, settings, classify_now):
    from datetime import timedelta

    from classification import queueing
    from classification.privacy import retention

    settings.CLASSIFIER = {**settings.CLASSIFIER, "RETENTION_WEBCAM_DAYS": 7, "RETENTION_UPLOAD_DAYS": 90}
    now = timezone.now()

    def row(name, source, days_old, **fields):
        [made] = classify_now(submit_image(data=image_bytes(), original_name=name, source=source))  # and its thumbnail
        Classification.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=days_old), **fields)
        return Classification.objects.get(pk=made.pk)

    rows = {
        "old frame": row("old frame", "webcam", 8),
        "new frame": row("new frame", "webcam", 6),
        "reviewed frame": row("reviewed frame", "webcam", 30, status="done", reviewed_label="human"),
        "corrected frame": row("corrected frame", "webcam", 30, status="done", suggested_label="human"),
        "month-old upload": row("month-old upload", "upload", 30),
        "old upload": row("old upload", "upload", 91),
        "old api upload": row("old api upload", "api", 91),
    }
    files = {name: {r.image.name, r.thumbnail.name} for name, r in rows.items()}
    assert all(r.thumbnail.name for r in rows.values())

    assert retention.delete_expired(now)["deleted"] == 3

    kept = set(Classification.objects.values_list("original_name", flat=True))
    assert kept == {"new frame", "reviewed frame", "corrected frame", "month-old upload"}
    on_disk = stored_files()
    for name in rows:
        assert (files[name] <= on_disk) == (name in kept), name

    settings.CLASSIFIER = {**settings.CLASSIFIER, "RETENTION_WEBCAM_DAYS": 0, "RETENTION_UPLOAD_DAYS": 0}
    assert retention.delete_expired(now + timedelta(days=3650))["deleted"] == 0  # 0 keeps for ever
    schedule = {entry["task"] for entry in queueing.app.conf.beat_schedule.values()}
    assert queueing.DELETE_EXPIRED in schedule
