"""End to end in headless Chromium: a fake camera, the webcam page, results pushed live, History by events."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from classification.models import Classification
from tests.conftest import REPO_DIR, SAMPLES_DIR, self_signed_certificate, child_process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


def write_y4m(image: Image.Image, path: Path, frames: int = 3) -> Path:
    """A raw YUV 4:2:0 video Chromium's fake camera can play (and loop), one frame a second.

    Each frame is the picture shifted a little further: frames taken a few seconds apart
    differ, as a real scene does (identical ones would be counted, not stored).
    """
    image = image.convert("RGB").resize((640, 480))
    with open(path, "wb") as fh:
        fh.write(b"YUV4MPEG2 W640 H480 F1:1 Ip A1:1 C420jpeg\n")
        for index in range(frames):
            shifted = ImageChops.offset(image, 160 * index, 0)
            y, cb, cr = shifted.convert("YCbCr").split()
            chroma = [plane.resize((320, 240)) for plane in (cb, cr)]
            fh.write(b"FRAME\n" + y.tobytes() + chroma[0].tobytes() + chroma[1].tobytes())
    return path


def camera_picture() -> Image.Image:
    sample = SAMPLES_DIR / "203.png"
    if sample.is_file():
        return Image.open(sample)
    return Image.linear_gradient("L").convert("RGB")  # no shared photos: any picture will do


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_web(scheme: str, tmp_path: Path, host: str = "127.0.0.1", port: int = 0, options=(), **env: str):
    """The real web process (``classifier_site.serve``) on the test database: HTTP or HTTPS, with websockets.

    Yields its URL. Its output goes to ``tmp_path / "web.log"`` (a pipe nobody reads
    could fill up and stall it). ``options`` are more of its arguments (``--proxy-headers``, ``--access-log``).
    """
    port = port or _free_port()
    if scheme == "https":
        env = {**self_signed_certificate(tmp_path), **env}
    log = open(tmp_path / "web.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "classifier_site.serve", "--host", host, "--port", str(port), *options],
        cwd=REPO_DIR, env={**child_process_env(), **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"{scheme}://{host}:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def web_server(request, tmp_path):
    with serve_web(getattr(request, "param", "http"), tmp_path) as url:
        yield url


@contextmanager
def chromium(*args: str):
    """Headless Debian Chromium through Playwright.

    Playwright's sync API runs an event loop in this thread, so the ORM must
    not be used inside this block: it would open a connection bound to that
    loop's context that nothing closes. Tests collect what the page shows
    here and check the database after the block.
    """
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", *args])
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("web_server", ["http", "https"], indirect=True)
def test_webcam_page_streams_frames_and_shows_pushed_results(
    active_tiny_model, celery_worker, web_server, tmp_path
):
    video = write_y4m(camera_picture(), tmp_path / "camera.y4m")
    fake_camera = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--ignore-certificate-errors",  # the HTTPS case serves a self-signed certificate
    )
    with chromium(*fake_camera) as browser:
        shown, labels, message, events_in_history, frames_in_history = _stream_from_fake_camera(browser, web_server)

    rows = {str(row.public_id): row for row in Classification.objects.filter(public_id__in=shown)}
    assert len(rows) == len(shown) >= 2
    assert all(row.source == "webcam" and row.status == "done" for row in rows.values())
    assert [rows[id].pk for id in shown] == sorted((row.pk for row in rows.values()), reverse=True)  # newest first
    assert len({row.owner_key for row in rows.values()}) == 1  # the browser session's, as on the history page
    assert set(labels) <= set(active_tiny_model.display_names.values())  # display names, not raw labels
    assert message == ""
    assert events_in_history >= 1 and frames_in_history == 0


def _stream_from_fake_camera(browser, base_url):
    context = browser.new_context()
    history = context.new_page()
    history.goto(f"{base_url}/history/")
    # Locator waits, not wait_for_function: the page's CSP (no eval) stays on, as for users.
    history.locator("#results[data-live=all]").wait_for()

    page = context.new_page()
    page.goto(f"{base_url}/webcam/")
    page.wait_for_selector("#connection:text('connected')")
    page.fill("#interval", "2")
    page.click("#toggle")

    page.locator("#webcam-results [data-status=done]").nth(1).wait_for(timeout=60_000)
    page.click("#toggle")  # stop capturing
    shown = page.eval_on_selector_all(
        "#webcam-results [data-status=done]", "items => items.map(item => item.dataset.id)"
    )
    labels = page.eval_on_selector_all("#webcam-results .label", "items => items.map(item => item.textContent)")

    message = page.text_content("#webcam-message")
    # History shows the webcam session as its events, not frame by frame (not even live).
    for _ in range(20):
        history.reload()
        if history.locator("#results [data-event]").count():
            break
        history.wait_for_timeout(500)
    events_in_history = history.locator("#results [data-event]").count()
    frames_in_history = sum(history.locator(f'#results [data-id="{pk}"]').count() for pk in shown)
    context.close()
    return shown, labels, message, events_in_history, frames_in_history


def fake_camera_args(tmp_path: Path) -> tuple[str, ...]:
    video = write_y4m(camera_picture(), tmp_path / "camera.y4m")
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}")


def test_denied_camera_shows_a_clear_message(db, web_server):
    with chromium("--use-fake-device-for-media-stream", "--deny-permission-prompts") as browser:
        page = browser.new_page()
        page.goto(f"{web_server}/webcam/")
        page.click("#toggle")
        page.locator("#webcam-message:not(:empty)").wait_for()
        message = page.text_content("#webcam-message")
    assert "denied" in message or "No camera" in message
    assert not Classification.objects.exists()


def test_upload_page_sends_files_and_shows_results_without_a_reload(
    active_tiny_model, celery_worker, web_server, tmp_path
):
    photo, text = tmp_path / "photo.png", tmp_path / "notes.jpg"
    camera_picture().convert("RGB").save(photo)
    text.write_text("not an image")

    with chromium() as browser:
        context = browser.new_context()  # one session: History, open beside the form, follows its results
        page = context.new_page()
        page.goto(f"{web_server}/")
        history = context.new_page()
        history.goto(f"{web_server}/history/")
        history.locator("#results[data-live=all]").wait_for()
        count_before = history.text_content("#history-count")
        history.wait_for_timeout(1_000)  # its live socket connects
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        page.set_input_files("#file-input", [str(photo), str(text)])  # choosing files sends them
        page.locator("#results [data-status=done]").first.wait_for(timeout=60_000)
        history.locator("#history-count[data-count='1']").wait_for(timeout=30_000)  # counted as it arrives
        count_after = " ".join(history.text_content(".count").split())
        card = page.text_content("#results [data-status=done]")
        rejected = page.text_content("#rejected")
        live_card = " ".join(page.inner_text("#results [data-status=done] .result-body").split())
        page.reload()
        served_card = " ".join(page.inner_text("#results [data-status=done] .result-body").split())

    assert navigations[:-1] == []  # no reload (the last one is the test's own, below)
    assert count_before == "0" and count_after.startswith("1 entry"), count_after
    # The card pushed live and the card the server renders after a reload read the same.
    assert live_card == served_card and "%" in live_card and "Upload form" in live_card, (live_card, served_card)
    assert "photo.png" in card and any(name in card for name in active_tiny_model.display_names.values())
    assert "notes.jpg" in rejected and "not an image" in rejected
    assert Classification.objects.get().original_name == "photo.png"
