"""In headless Chromium: the webcam page's fixes (no black first frame, bounded interval, refusals that
clear, a current reading with class bars, the last N results) and the live cameras dashboard."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from classification.models import Camera, Classification
from tests.camera_servers import http_camera, photo_frames
from tests.capture_helpers import capture_service
from tests.conftest import solo_worker
from tests.test_webcam_browser import camera_picture, chromium, web_server, write_y4m  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_webcam_page_bounds_the_interval_clears_refusals_and_sends_no_black_frame(
    active_tiny_model, web_server, tmp_path, settings  # noqa: F811
):
    from classifier_site.celery import app

    app.control.purge()  # messages earlier tests left name ids the flush gave out again
    video = write_y4m(camera_picture(), tmp_path / "camera.y4m")
    fake_camera = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-video-capture={video}")
    notes = {}
    with chromium(*fake_camera) as browser:
        page = browser.new_page()
        page.goto(f"{web_server}/webcam/")
        page.wait_for_selector("#connection:text('connected')")
        bounds = page.text_content(".webcam-controls")
        for typed in ("0", "-5", "1000", "abc"):
            page.fill("#interval", typed) if typed != "abc" else page.eval_on_selector("#interval", "el => el.value = ''")
            page.dispatch_event("#interval", "change")
            notes[typed] = (page.input_value("#interval"), page.text_content("#interval-note"))
        page.fill("#interval", "2")
        page.dispatch_event("#interval", "change")
        cleared_note = page.text_content("#interval-note")
        page.eval_on_selector("#webcam-results", "el => el.dataset.keep = '2'")

        page.click("#toggle")
        # No worker yet: frames wait, and the third is refused (two may wait at once).
        page.locator("#webcam-message:not(:empty)").wait_for(timeout=30_000)
        refusal = page.text_content("#webcam-message")
        with solo_worker(shutdown_timeout=30):
            page.locator("#webcam-current:not([hidden])").wait_for(timeout=60_000)
            page.locator("#webcam-message:empty").wait_for(state="attached", timeout=30_000)
            page.locator("#webcam-results [data-status=done]").nth(1).wait_for(timeout=60_000)
            page.wait_for_timeout(5_000)  # a few more results arrive
            page.set_viewport_size({"width": 390, "height": 844})  # a phone, with results on the page
            phone_widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                " document.getElementById('webcam-results').getBoundingClientRect().right]")
            page.click("#toggle")
            cards = page.locator("#webcam-results > li").count()
            current_label = page.text_content("#current-label")
            bars = page.eval_on_selector_all("#current-bars li", "items => items.map(i => i.dataset.label)")

    assert "(2–600 s)" in " ".join(bounds.split())
    assert notes["0"][0] == "2" and "minimum, 2 s" in notes["0"][1]
    assert notes["-5"][0] == "2" and "minimum" in notes["-5"][1]
    assert notes["1000"][0] == "600" and "maximum" in notes["1000"][1]
    assert notes["abc"][0] == "10" and "between 2 and 600" in notes["abc"][1]
    assert cleared_note == ""
    assert "still being classified" in refusal
    assert current_label in active_tiny_model.display_names.values()
    assert sorted(bars) == sorted(active_tiny_model.class_names)
    assert cards == 2  # only the last N results are kept
    assert phone_widths[0] <= phone_widths[1] and phone_widths[2] <= phone_widths[1], phone_widths  # nothing off-screen

    first = Classification.objects.filter(source="webcam").order_by("pk").first()
    with first.image.open("rb") as fh:
        stats = ImageStat.Stat(Image.open(io.BytesIO(fh.read())).convert("L"))
    assert stats.mean[0] > 30 and stats.stddev[0] > 10, (stats.mean, stats.stddev)  # a picture, not black


def test_cameras_dashboard_shows_live_tiles(active_tiny_model, celery_worker, web_server, client,  # noqa: F811
                                           django_user_model, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "CAPTURE_CONNECT_TIMEOUT_SECONDS": 2.0,
                           "CAPTURE_READ_TIMEOUT_SECONDS": 2.0, "CAPTURE_BACKOFF_MAX_SECONDS": 2.0}
    owner = django_user_model.objects.create_user("watcher", password="pw")
    other = django_user_model.objects.create_user("neighbour", password="pw")
    client.force_login(owner)
    session = client.cookies["sessionid"].value
    with http_camera(photo_frames(2), fps=4) as source:
        camera = Camera.objects.create(owner=owner, name="front door", kind=Camera.Kind.MJPEG,
                                       url=f"{source.base}/stream.mjpg", interval_seconds=1)
        Camera.objects.create(owner=other, name="not mine", kind=Camera.Kind.MJPEG, url=f"{source.base}/x")
        with chromium() as browser:
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": session, "url": web_server}])
            page = context.new_page()
            page.goto(f"{web_server}/cameras/")
            page.wait_for_selector("#camera-connection:text('live')")
            tiles = page.locator(".camera-tile").count()
            names = page.text_content("#camera-tiles")
            with capture_service(lease_seconds=6):
                tile = f'.camera-tile[data-camera="{camera.public_id}"]'
                page.locator(f"{tile}[data-status=online]").wait_for(timeout=60_000)
                page.locator(f"{tile} [data-field=image]:not([hidden])").wait_for(timeout=60_000)
                page.locator(f"{tile} .recent-events li").first.wait_for(timeout=60_000)  # an event, pushed
                label = page.text_content(f"{tile} [data-field=label]")
                bars = page.locator(f"{tile} [data-field=bars] li").count()
                source.stop()
                page.locator(f"{tile}[data-status=offline]").wait_for(timeout=60_000)
                error = page.text_content(f"{tile} [data-field=error]")
            context.close()
    assert tiles == 1 and "front door" in names and "not mine" not in names
    assert any(label.startswith(name) for name in active_tiny_model.display_names.values()) and bars == len(active_tiny_model.class_names)
    assert "Last error" in error
