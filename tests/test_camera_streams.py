"""The capture service against real streams on 127.0.0.1: MJPEG over HTTP, snapshots, GStreamer's RTSP
server, cameras that hang or vanish and come back."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image, ImageStat

from classification.cameras import leases
from classification.cameras.service import CaptureService
from classification.models import Camera, CameraState, Classification
from tests.camera_servers import http_camera, photo_frames, rtsp_camera, silent_camera
from tests.capture_helpers import capture_service, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("watcher", password="pw")


@pytest.fixture
def fast_capture(settings):
    settings.CLASSIFIER = {
        **settings.CLASSIFIER,
        "CAPTURE_CONNECT_TIMEOUT_SECONDS": 2.0, "CAPTURE_READ_TIMEOUT_SECONDS": 2.0, "CAPTURE_BACKOFF_MAX_SECONDS": 2.0,
    }


def frames_of(camera: Camera) -> list[Classification]:
    return list(Classification.objects.filter(stream=camera.stream).order_by("created_at"))


def state_of(camera: Camera) -> CameraState | None:
    return CameraState.objects.filter(camera=camera).first()


def status_of(camera: Camera) -> str | None:
    state = state_of(camera)
    return state.status if state else None


def test_streams_are_captured_beside_cameras_that_hang(owner, fast_capture, tmp_path):
    photos = photo_frames(4)
    with http_camera(photos, fps=5) as mjpeg, rtsp_camera(photos, tmp_path, fps=5, keyint=5) as rtsp_url, \
            silent_camera() as (silent_port, held):
        make = lambda name, kind, url: Camera.objects.create(  # noqa: E731
            owner=owner, name=name, kind=kind, url=url, interval_seconds=1)
        good_mjpeg = make("porch", Camera.Kind.MJPEG, f"{mjpeg.base}/stream.mjpg")
        good_rtsp = make("gate", Camera.Kind.RTSP, rtsp_url)
        hanging_rtsp = make("hangs (rtsp)", Camera.Kind.RTSP, f"rtsp://127.0.0.1:{silent_port}/cam")
        hanging_http = make("hangs (http)", Camera.Kind.MJPEG, f"http://127.0.0.1:{silent_port}/stream.mjpg")
        missing_device = make("unplugged", Camera.Kind.DEVICE, "/dev/video-missing")

        with capture_service(lease_seconds=6) as service:
            wait_for(lambda: len(frames_of(good_mjpeg)) >= 8 and len(frames_of(good_rtsp)) >= 3, timeout=90,
                     message="the working cameras did not deliver frames")
            rtsp_thread = service.threads[good_rtsp.pk]
            sent, decoded = rtsp_thread.frames_sent, rtsp_thread.decoded_frames
            hanging = [state_of(camera) for camera in (hanging_rtsp, hanging_http)]
            unplugged = state_of(missing_device)
        assert held, "the hanging cameras were connected to"

    # A hanging camera never delayed the others: the MJPEG camera kept its 1 s interval.
    times = [row.created_at for row in frames_of(good_mjpeg)]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    assert max(gaps) < 2.5, gaps
    for state in hanging:
        assert state.status != CameraState.Status.ONLINE and "No answer within 2 s" in state.last_error
        assert state.failures >= 1 and state.last_error_at is not None
    assert unplugged.status != CameraState.Status.ONLINE and "video-missing" in unplugged.last_error

    # Frames went through the intake like uploads: stored, queued, owned by the camera's owner.
    for camera in (good_mjpeg, good_rtsp):
        rows = frames_of(camera)
        assert all(row.source == "camera" and row.submitted_by == owner and row.image.name for row in rows)
        assert {(row.width, row.height) for row in rows} == {(320, 240)}
        with rows[-1].image.open("rb") as fh:
            picture = Image.open(io.BytesIO(fh.read()))
            assert ImageStat.Stat(picture.convert("L")).mean[0] > 20  # a real picture, not a black frame
    # The MJPEG parts were passed on as they came; the H.264 stream was decoded only when a frame was due:
    # each taken frame cost about one decoded picture, while the stream carried five a second.
    assert frames_of(good_mjpeg)[0].content_hash in {__import__("hashlib").sha256(p).hexdigest() for p in photos}
    assert decoded <= 2 * sent + 2, (decoded, sent)


def test_a_stream_that_stops_and_comes_back(owner, fast_capture):
    with http_camera(photo_frames(3), fps=5) as source:
        camera = Camera.objects.create(owner=owner, name="shed", kind=Camera.Kind.MJPEG,
                                       url=f"{source.base}/stream.mjpg", interval_seconds=1)
        with capture_service(lease_seconds=6):
            wait_for(lambda: status_of(camera) == "online" and len(frames_of(camera)) >= 2)
            source.stop()
            offline = wait_for(lambda: status_of(camera) == "offline" and state_of(camera), timeout=30)
            before = len(frames_of(camera))
            source.start()
            wait_for(lambda: status_of(camera) == "online" and len(frames_of(camera)) >= before + 2, timeout=60,
                     message="frames did not resume after the camera came back")
            back = state_of(camera)
    assert offline.last_error and offline.failures >= 1
    assert back.failures == 0 and back.last_frame_at > offline.last_error_at


def test_snapshot_camera_with_credentials_never_shows_the_password(owner, fast_capture, client, caplog):
    caplog.set_level(logging.INFO)
    secret = "p@ss:w/rd"
    client.force_login(owner)
    with http_camera(photo_frames(2), username="viewer", password=secret) as source:
        quoted = "p%40ss%3Aw%2Frd"
        created = client.post("/api/v1/cameras/", {
            "name": "door", "kind": "snapshot", "interval_seconds": 1,
            "url": f"http://viewer:{quoted}@127.0.0.1:{source.port}/snapshot.jpg",
        }, content_type="application/json")
        wrong = client.post("/api/v1/cameras/", {
            "name": "door (wrong password)", "kind": "snapshot", "interval_seconds": 1,
            "url": f"{source.base}/snapshot.jpg", "username": "viewer", "password": "not-the-one",
        }, content_type="application/json")
        assert created.status_code == wrong.status_code == 201, created.content
        camera = Camera.objects.get(public_id=created.json()["id"])
        with capture_service(lease_seconds=6):
            wait_for(lambda: len(frames_of(camera)) >= 2, message="no snapshot was taken")
            refused = wait_for(lambda: (s := CameraState.objects.filter(camera__public_id=wrong.json()["id"], failures__gte=1)
                                        .first()) and s)
        listing = client.get("/api/v1/cameras/").content.decode()

    assert (camera.url, camera.username, camera.password) == (f"{source.base}/snapshot.jpg", "viewer", secret)
    assert created.json()["has_password"] is True and "password" not in created.json()
    assert "HTTP 401" in refused.last_error
    for text in (created.content.decode(), listing, caplog.text, refused.last_error):
        assert secret not in text and quoted not in text and "not-the-one" not in text


def test_each_camera_has_one_capturer_and_a_dead_ones_cameras_are_taken_over(owner):
    camera = Camera.objects.create(owner=owner, name="yard", kind=Camera.Kind.MJPEG, url="http://127.0.0.1:9/x")
    first, second = "capturer-a", "capturer-b"
    assert leases.acquire(first, leases.unheld_enabled_cameras(), 10, ttl=1.5) == [camera.pk]
    assert leases.unheld_enabled_cameras() == []
    assert leases.acquire(second, [camera.pk], 10, ttl=1.5) == []  # held: nobody else gets it
    assert leases.renew(first, [camera.pk], ttl=1.5) == {camera.pk}

    import time
    time.sleep(1.7)  # the first capturer died: nobody renews
    assert leases.unheld_enabled_cameras() == [camera.pk]
    assert leases.acquire(second, leases.unheld_enabled_cameras(), 10, ttl=30) == [camera.pk]
    assert leases.renew(first, [camera.pk], ttl=30) == set()  # the old holder learns it lost the camera
    assert state_of(camera).holder == second


def test_two_capture_services_share_cameras_without_overlap(owner, fast_capture):
    with http_camera(photo_frames(2)) as source:
        cameras = [Camera.objects.create(owner=owner, name=f"cam {i}", kind=Camera.Kind.MJPEG,
                                         url=f"{source.base}/stream.mjpg", interval_seconds=2) for i in range(3)]
        one = CaptureService(holder="one", lease_seconds=3, max_cameras=2)
        two = CaptureService(holder="two", lease_seconds=3, max_cameras=2)
        try:
            one.tick()
            two.tick()
            assert len(one.threads) == 2 and len(two.threads) == 1
            assert not set(one.threads) & set(two.threads)
            for thread in one.threads.values():  # "one" dies without giving its cameras back
                thread.stop()
            one.threads.clear()
            two.tick()
            assert len(two.threads) == 1  # its leases are still current
            wait_for(lambda: two.tick() or len(two.threads) == 2, timeout=10)
            assert {state_of(c).holder for c in cameras if c.pk in two.threads} == {"two"}
        finally:
            one.shutdown()
            two.shutdown()
