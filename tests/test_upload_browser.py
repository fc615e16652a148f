"""The upload page in headless Chromium: more files than one request takes go in batches with progress,
Classify with nothing chosen says so, sizes read as people read them, and a folder can be sent."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from classification.models import Classification
from tests.test_webcam_browser import chromium, serve_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMITS = {"CLASSIFIER_MAX_FILES_PER_REQUEST": "5", "CLASSIFIER_MAX_UPLOAD_BYTES": "200000"}


def photo(path, shade: int):
    Image.new("RGB", (48, 32), (shade, 100, 200 - shade)).save(path)
    return path


def test_upload_page_batches_reports_progress_and_takes_folders(active_tiny_model, tmp_path):
    files = [str(photo(tmp_path / f"photo-{index:02d}.png", index * 9)) for index in range(12)]
    big = tmp_path / "huge.bmp"
    big.write_bytes(b"BM" + os.urandom(300_000))
    folder = tmp_path / "holiday"
    (folder / "day-2").mkdir(parents=True)
    photo(folder / "beach.png", 10), photo(folder / "day-2" / "hill.png", 90)
    (folder / "notes.txt").write_text("not a photo")

    with serve_web("http", tmp_path, **LIMITS) as base_url, chromium() as browser:
        page = browser.new_page()
        posts = []
        page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
        page.goto(f"{base_url}/")
        page.click("#upload-form button[type=submit]")
        nothing = page.text_content("#upload-message")

        page.set_input_files("#file-input", [*files, str(big)])
        page.locator("#overall-text:text('12 of 12 files in 3 batches · 100%')").wait_for(timeout=60_000)
        states = page.eval_on_selector_all("#file-progress .file-state", "items => items.map(i => i.textContent)")
        bars = page.eval_on_selector_all("#file-progress progress", "items => items.map(i => i.value)")
        rejected = page.text_content("#rejected")
        cards = page.locator("#results > li").count()
        batches = len(posts)
        # A card drawn live and the same card rendered by the server after a reload read the same.
        card = page.get_attribute("#results > li", "data-id")
        live_card = " ".join(page.inner_text(f'#results [data-id="{card}"] .result-body').split())
        page.reload()
        served_card = " ".join(page.inner_text(f'#results [data-id="{card}"] .result-body').split())

        page.locator("#folder-input").set_input_files(str(folder))
        page.locator("#overall-text:text('2 of 2 files · 100%')").wait_for(timeout=60_000)
        folder_note = page.text_content("#rejected")

        # Dropped files (a page's own DataTransfer: no folder entries, so the files themselves).
        posts.clear()
        page.evaluate("""async () => {
            const png = await (await fetch('/static/favicon.svg')).blob();  // any bytes; the server judges them
            const data = new DataTransfer();
            data.items.add(new File([png], 'dropped.svg', {type: 'image/svg+xml'}));
            const form = document.getElementById('upload-form');
            form.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
        }""")
        page.locator("#rejected:has-text('dropped.svg')").wait_for(timeout=30_000)
        dropped = page.text_content("#rejected")
        dropped_posts = len(posts)
        hint = page.text_content("#upload-limits")

    assert nothing == "Choose one or more photos first (or drop them here)."
    assert batches == 3  # 12 files, 5 a request; the oversized one is never sent
    assert states.count("sent, classifying") == 12 and states.count("refused: too large") == 1
    assert bars.count(100) == 12
    assert "huge.bmp" in rejected and "The file is 293.0 KB; the limit is 195.3 KB." in rejected
    assert cards >= 12
    assert live_card == served_card and "Upload form · just now" in live_card, (live_card, served_card)
    assert "1 file in the folder skipped: not images" in folder_note
    assert dropped_posts == 1 and "dropped.svg" in dropped  # sent, and the server's refusal shown
    assert "195.3 KB" in hint or "195.3\xa0KB" in hint
    names = set(Classification.objects.values_list("original_name", flat=True))
    assert {os.path.basename(name) for name in files} | {"beach.png", "hill.png"} == names
