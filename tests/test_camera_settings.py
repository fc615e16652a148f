"""Cameras as people manage them: credentials kept apart and masked, the API's ownership, the admin,
the dashboard and timeline pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from classification.cameras.credentials import connect_url, scrub, split_credentials
from classification.cameras.services import CameraSettingsError, normalized_connection
from classification.models import Camera, CameraState, Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("watcher", password="pw")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", "b@example.com", "pw")


def test_credentials_leave_the_url_and_come_back_only_to_connect():
    url, user, password = split_credentials("rtsp://admin:p%40ss%3Aw@cam.local:554/live?ch=1")
    assert (url, user, password) == ("rtsp://cam.local:554/live?ch=1", "admin", "p@ss:w")
    assert connect_url(url, user, password) == "rtsp://admin:p%40ss%3Aw@cam.local:554/live?ch=1"
    assert split_credentials("http://cam/snap.jpg") == ("http://cam/snap.jpg", "", "")
    said = "Connection refused: 'rtsp://admin:p%40ss%3Aw@cam.local:554/live' (p@ss:w)"
    assert scrub(said, "p@ss:w") == "Connection refused: 'rtsp://admin:****@cam.local:554/live' (****)"
    assert scrub("see http://u:other@host/x") == "see http://u:****@host/x"  # any URL's password


@pytest.mark.parametrize("kind, url, field", [
    ("rtsp", "http://cam/stream", "url"), ("mjpeg", "rtsp://cam/x", "url"), ("snapshot", "cam.jpg", "url"),
    ("device", "video0", "url"), ("rtsp", "rtsp:///nohost", "url"),
])
def test_urls_that_cannot_work_are_refused_with_the_field_to_fix(kind, url, field):
    with pytest.raises(CameraSettingsError) as refused:
        normalized_connection(kind, url)
    assert refused.value.field == field and refused.value.message


def test_api_lists_your_own_cameras_and_staff_sees_all(client, owner, staff, django_user_model):
    other = django_user_model.objects.create_user("neighbour", password="pw")
    Camera.objects.create(owner=other, name="theirs", kind="snapshot", url="http://cam/2.jpg")
    client.force_login(owner)
    created = client.post("/api/v1/cameras/", {"name": "mine", "kind": "rtsp",
                                               "url": "rtsp://me:secret@cam/1"}, content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    assert (body["url"], body["username"], body["has_password"], body["owner"]) == ("rtsp://cam/1", "me", True,
                                                                                    "watcher")
    assert body["interval_seconds"] == 10 and body["enabled"] is True and "secret" not in created.content.decode()
    assert body["health"]["status"] == "no_capturer"
    assert [c["name"] for c in client.get("/api/v1/cameras/").json()["results"]] == ["mine"]
    theirs = Camera.objects.get(name="theirs")
    assert client.get(f"/api/v1/cameras/{theirs.public_id}/").status_code == 404
    assert client.patch(f"/api/v1/cameras/{theirs.public_id}/", {"enabled": False},
                        content_type="application/json").status_code == 404

    changed = client.patch(f"/api/v1/cameras/{body['id']}/", {"interval_seconds": 30, "enabled": False},
                           content_type="application/json")
    assert changed.status_code == 200 and changed.json()["health"]["status"] == "disabled"
    assert Camera.objects.get(public_id=body["id"]).password == "secret"  # kept when not sent
    bad = client.patch(f"/api/v1/cameras/{body['id']}/", {"interval_seconds": 0, "url": "ftp://x"},
                       content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) >= {"interval_seconds"}
    assert client.post("/api/v1/cameras/", {"name": "x", "kind": "mjpeg", "url": "rtsp://cam"},
                       content_type="application/json").json()["error"]["fields"]["url"]

    client.force_login(staff)
    assert {c["name"] for c in client.get("/api/v1/cameras/").json()["results"]} == {"mine", "theirs"}
    client.logout()
    assert client.get("/api/v1/cameras/").status_code == 401
    client.force_login(owner)
    assert client.delete(f"/api/v1/cameras/{body['id']}/").status_code == 204


def test_admin_keeps_the_password_apart_and_never_shows_it(client, staff):
    client.force_login(staff)
    answer = client.post("/admin/classification/camera/add/", {
        "name": "gate", "owner": staff.pk, "kind": "rtsp", "url": "rtsp://gate:hunter2@cam:554/h264",
        "username": "", "password": "", "interval_seconds": "10", "enabled": "on",
    })
    assert answer.status_code == 302, answer.content.decode()[:2000]
    camera = Camera.objects.get(name="gate")
    assert (camera.url, camera.username, camera.password) == ("rtsp://cam:554/h264", "gate", "hunter2")
    CameraState.objects.create(camera=camera, status="offline", last_error="Could not open: [Errno 111]")
    for page in (f"/admin/classification/camera/{camera.pk}/change/", "/admin/classification/camera/"):
        html = client.get(page).content.decode()
        assert "hunter2" not in html and "gate" in html
    change_page = client.get(f"/admin/classification/camera/{camera.pk}/change/").content.decode()
    assert "****" in change_page and "rtsp://cam:554/h264" in change_page
    assert "Errno 111" in client.get("/admin/classification/camera/").content.decode()
    # Saving again without typing a password keeps it; the form can also clear it.
    data = {"name": "gate", "owner": staff.pk, "kind": "rtsp", "url": "rtsp://cam:554/h264", "username": "gate",
            "password": "", "interval_seconds": "5", "enabled": "on"}
    client.post(f"/admin/classification/camera/{camera.pk}/change/", data)
    assert Camera.objects.get(pk=camera.pk).password == "hunter2"
    client.post(f"/admin/classification/camera/{camera.pk}/change/", {**data, "clear_password": "on"})
    assert Camera.objects.get(pk=camera.pk).password == ""


def test_admin_alert_rule_secret_is_shown_once_and_must_go_somewhere(client, staff):
    client.force_login(staff)
    refused = client.post("/admin/classification/alertrule/add/", {
        "name": "nowhere", "owner": staff.pk, "label": "uber_eats", "min_confidence": "0.8", "min_frames": "2",
        "cooldown_seconds": "300", "enabled": "on"})
    assert "must go somewhere" in refused.content.decode()
    saved = client.post("/admin/classification/alertrule/add/", {
        "name": "courier", "owner": staff.pk, "label": "uber_eats", "min_confidence": "0.8", "min_frames": "2",
        "cooldown_seconds": "300", "enabled": "on", "webhook_url": "https://hooks.example.com/x"}, follow=True)
    from classification.models import AlertRule

    secret = AlertRule.objects.get(name="courier").webhook_secret
    assert len(secret) >= 32 and secret in saved.content.decode()  # shown once, to copy
    assert secret not in client.get("/admin/classification/alertrule/").content.decode()


def test_dashboard_and_timeline_are_for_the_owner(client, owner, django_user_model):
    camera = Camera.objects.create(owner=owner, name="porch", kind="snapshot", url="http://cam/s.jpg")
    other = Camera.objects.create(owner=django_user_model.objects.create_user("x", password="pw"), name="elsewhere",
                                  kind="snapshot", url="http://cam/t.jpg")
    assert client.get("/cameras/").status_code == 302  # sign in first
    client.force_login(owner)
    page = client.get("/cameras/").content.decode()
    assert "porch" in page and "elsewhere" not in page and "camera-tiles-data" in page
    assert client.get(f"/cameras/{other.public_id}/").status_code == 404

    now = timezone.make_aware(datetime.combine(timezone.localdate(), time(12)))  # today, whatever the hour
    for label, minutes in (("uber_eats", 30), ("no_human", 20), ("uber_eats", 10)):
        Event.objects.create(stream=camera.stream, source="camera", camera=camera, owner=owner, label=label,
                             started_at=now - timedelta(minutes=minutes), ended_at=now - timedelta(minutes=minutes - 1),
                             frame_count=3, stored_count=1, peak_confidence=0.9)
    timeline = client.get(f"/cameras/{camera.public_id}/").content.decode()
    assert timeline.count('class="result result--event"') == 3 and timeline.count("day-segment") == 3
    assert client.get(f"/cameras/{camera.public_id}/?label=uber_eats").content.decode().count("result--event") == 2
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert "No events." in client.get(f"/cameras/{camera.public_id}/?date={yesterday}").content.decode()
    bad = client.get(f"/cameras/{camera.public_id}/?date=soon")
    assert bad.status_code == 400 and "is not a date" in bad.content.decode()
