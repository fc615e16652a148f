"""Pages people see: the model banner, history with thumbnails, detail, image files."""

from __future__ import annotations

import io
import uuid

import pytest
from django.urls import reverse
from PIL import Image

from classification.models import Classification
from classification.intake.submission import submit_image
from classification.serving.classify import classify_stored_images
from ml.predictor import Predictor
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="pw-owner")


@pytest.fixture
def client(client, owner):
    """The pages as their owner sees them (test_privacy.py has everyone else)."""
    client.force_login(owner)
    return client


@pytest.fixture
def done_row(active_tiny_model, tiny_bundle, owner):
    row = submit_image(data=image_bytes("PNG", size=(80, 60)), original_name="../../etc/photo.png", user=owner)
    predictor = Predictor.from_bundle(tiny_bundle)
    [classified] = classify_stored_images([row.pk], load_model=lambda: (predictor, active_tiny_model))
    return classified


def test_banner_names_the_model_and_its_sample_accuracy(client, active_tiny_model):
    active_tiny_model.is_demo = True
    active_tiny_model.save()

    page = client.get(reverse("upload")).content.decode()

    assert "Demo model:" in page
    assert "tiny-test-model" in page
    assert '<strong id="sample-accuracy">0.50</strong>' in page
    assert "Random weights, for tests only." in page


def test_banner_says_when_no_model_is_active(client, db):
    page = client.get(reverse("upload")).content.decode()
    assert "No active model" in page and "ensure_active_model" in page


def test_history_lists_results_with_thumbnails_and_filters(client, done_row):
    page = client.get(reverse("history")).content.decode()
    assert reverse("classification-thumbnail", args=[done_row.public_id]) in page
    assert done_row.model_version.display_name(done_row.predicted_label) in page
    assert "photo.png" in page and "etc/photo" not in page  # the client's path is never kept

    other_label = next(name for name in done_row.probabilities if name != done_row.predicted_label)
    filtered = client.get(reverse("history"), {"label": other_label}).content.decode()
    assert "Nothing matches these filters" in filtered and "Nothing classified yet" not in filtered


def test_detail_page_shows_every_class_probability(client, done_row):
    page = client.get(reverse("classification-detail", args=[done_row.public_id])).content.decode()
    for label, probability in done_row.probabilities.items():
        assert f'<li data-label="{label}"' in page
        assert f'<span class="class-bar-name">{done_row.model_version.display_name(label)}</span>' in page
        assert f'<span class="class-bar-value">{round(100 * probability)}%</span>' in page
    assert reverse("classification-image", args=[done_row.public_id]) in page


def test_image_and_thumbnail_are_served_from_storage(client, done_row):
    original = client.get(reverse("classification-image", args=[done_row.public_id]))
    assert original["Content-Type"] == "image/png"
    assert b"".join(original.streaming_content) == done_row.image.open("rb").read()

    thumbnail = client.get(reverse("classification-thumbnail", args=[done_row.public_id]))
    thumb = Image.open(io.BytesIO(b"".join(thumbnail.streaming_content)))
    assert thumb.format == "JPEG" and max(thumb.size) <= 256


def test_status_endpoint_rejects_malformed_ids(client, db):
    response = client.get(reverse("classification-status"), {"ids": "1,abc"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and "classification ids" in response.json()["error"]["message"]


def test_missing_classification_is_404_in_the_site_style(client, db):
    missing = uuid.uuid4()
    for name in ("classification-detail", "classification-image", "classification-thumbnail"):
        response = client.get(reverse(name, args=[missing]))
        assert response.status_code == 404
        assert "Not found" in response.content.decode() and "Image classifier" in response.content.decode()
    assert client.get("/classifications/424242/").status_code == 404  # sequential ids are no address


def test_stored_row_records_what_was_uploaded(done_row):
    row = Classification.objects.get(pk=done_row.pk)
    assert (row.width, row.height, row.byte_size > 0, len(row.content_hash)) == (80, 60, True, 64)
    assert row.content_type == "image/png"
    assert row.image.name.startswith("images/") and row.image.name.endswith(".png")
