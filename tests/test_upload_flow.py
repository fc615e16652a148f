"""Upload form → stored image → real Celery worker → finished row."""

from __future__ import annotations

import io
import math

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from classification.serving import process_model
from classification.models import Classification
from tests.conftest import image_bytes, labelled_samples, stored_files, wait_until_finished

pytestmark = pytest.mark.django_db(transaction=True)


def post_files(client, files, accept_json=True):
    headers = {"HTTP_ACCEPT": "application/json"} if accept_json else {}
    return client.post(reverse("upload"), {"files": files}, **headers)


def test_upload_is_classified_by_the_worker(client, active_tiny_model, celery_worker):
    response = post_files(client, [SimpleUploadedFile("red.jpg", image_bytes(), "image/jpeg")])

    assert response.status_code == 202, response.content
    [accepted] = response.json()["accepted"]
    assert accepted["status"] == "queued"
    [row] = wait_until_finished([accepted["id"]])
    assert row.status == "done", row.error_message
    assert row.predicted_label in active_tiny_model.class_names
    assert set(row.probabilities) == set(active_tiny_model.class_names)
    assert math.isclose(sum(row.probabilities.values()), 1.0, abs_tol=1e-6)
    assert row.confidence == max(row.probabilities.values())
    assert row.model_version_id == active_tiny_model.pk
    assert row.started_at <= row.finished_at
    assert (row.width, row.height, row.original_name, row.source) == (64, 48, "red.jpg", "upload")

    polled = client.get(reverse("classification-status"), {"ids": str(row.public_id)}).json()["classifications"]
    assert polled[0]["status"] == "done" and polled[0]["predicted_label"] == row.predicted_label


def test_several_files_at_once_each_get_a_row(client, active_tiny_model, celery_worker):
    files = [
        SimpleUploadedFile(f"img{i}.png", image_bytes("PNG", color=(i * 40, 10, 10)), "image/png")
        for i in range(4)
    ]
    response = post_files(client, files)

    ids = [item["id"] for item in response.json()["accepted"]]
    assert len(ids) == 4
    assert all(row.status == "done" for row in wait_until_finished(ids))


def test_worker_loads_the_model_once_for_many_tasks(client, active_tiny_model, celery_worker):
    # worker_process_init already ran when the worker started, before any task.
    loads_after_start = process_model.state.load_count
    assert process_model.state.version_id == active_tiny_model.pk

    ids = []
    for i in range(5):
        response = post_files(client, [SimpleUploadedFile(f"{i}.jpg", image_bytes(color=(i, i, i)), "image/jpeg")])
        ids.append(response.json()["accepted"][0]["id"])
        wait_until_finished(ids[-1:])  # one at a time: the first task is checked like the rest

    assert process_model.state.load_count == loads_after_start
    assert all(row.status == "done" for row in wait_until_finished(ids))


def test_mixed_batch_keeps_good_files_and_explains_bad_ones(client, active_tiny_model):
    files = [
        SimpleUploadedFile("good.jpg", image_bytes(), "image/jpeg"),
        SimpleUploadedFile("notes.jpg", b"just some text", "image/jpeg"),
    ]
    response = post_files(client, files)

    assert response.status_code == 202
    body = response.json()
    assert [item["original_name"] for item in body["accepted"]] == ["good.jpg"]
    assert body["rejected"][0]["name"] == "notes.jpg"
    assert "not an image" in body["rejected"][0]["message"]
    assert Classification.objects.count() == 1


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()[:1500]


@pytest.mark.parametrize(
    "name, data, status, message",
    [
        ("notes.jpg", b"this is a text file, not a photo\n", 415, "not an image"),
        ("cut.jpg", _truncated_jpeg(), 400, "truncated or corrupt"),
        ("empty.jpg", b"", 400, "empty"),
    ],
)
def test_rejected_upload_leaves_no_row_and_no_file(client, active_tiny_model, name, data, status, message):
    before = stored_files()
    response = post_files(client, [SimpleUploadedFile(name, data, "image/jpeg")])

    assert response.status_code == status
    assert message in response.json()["rejected"][0]["message"]
    assert Classification.objects.count() == 0
    assert stored_files() == before


def test_image_over_the_pixel_limit_is_refused(client, active_tiny_model, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "MAX_IMAGE_PIXELS": 100 * 100}
    before = stored_files()
    response = post_files(client, [SimpleUploadedFile("big.png", image_bytes("PNG", size=(101, 100)), "image/png")])

    assert response.status_code == 413
    assert "pixels" in response.json()["rejected"][0]["message"]
    assert Classification.objects.count() == 0
    assert stored_files() == before


def test_file_over_the_byte_limit_is_refused(client, active_tiny_model, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "MAX_UPLOAD_BYTES": 1000}
    response = post_files(client, [SimpleUploadedFile("noise.png", _noise_png(), "image/png")])

    assert response.status_code == 413
    assert "limit is 1,000 bytes" in response.json()["rejected"][0]["message"]
    assert Classification.objects.count() == 0


def _noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((100, 100), 80).save(buffer, format="PNG")
    return buffer.getvalue()


def test_no_file_is_a_clear_400(client, active_tiny_model):
    response = client.post(reverse("upload"), {}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert "at least one image" in response.json()["rejected"][0]["message"]


def test_form_works_without_javascript(client, active_tiny_model):
    response = post_files(client, [SimpleUploadedFile("plain.jpg", image_bytes(), "image/jpeg")], accept_json=False)

    assert response.status_code == 202
    assert b"plain.jpg" in response.content
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def active_demo_model(db):
    from classification.registry import versions
    from tests.conftest import REPO_DIR

    return versions.import_bundle(REPO_DIR / "ml" / "demo_model", is_demo=True, activate_now=True)


def test_every_sample_photo_classifies_with_the_demo_model(client, active_demo_model, celery_worker):
    """The committed demo model, served by a real worker, on the 16 photos it never trained on."""
    samples = labelled_samples()
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path, _ in samples]
    response = post_files(client, files)

    ids = [item["id"] for item in response.json()["accepted"]]
    assert len(ids) == len(samples), response.json()["rejected"]
    rows = wait_until_finished(ids)
    assert [row.status for row in rows] == ["done"] * len(samples), [r.error_message for r in rows]
    accuracy = sum(row.predicted_label == label for row, (_, label) in zip(rows, samples)) / len(samples)
    assert accuracy >= 0.80
    # What the page claims is what the service measures.
    assert accuracy == pytest.approx(active_demo_model.sample_accuracy, abs=1e-6)
