"""What pages show: display names, confidences as percentages with an "uncertain" mark, one way of
writing times and sources, History's filters and exports, and the result page's neighbours."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classification.intake.submission import submit_image
from classification.models import Classification
from classification.registry import versions
from classification.serving.payloads import classification_payload
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="pw")


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


def finished(version, owner, name, label, confidence, *, days_ago=0):
    row = submit_image(data=image_bytes(color=(len(name) * 20 % 255, 10, 10)), original_name=name, user=owner)
    others = {n: (1 - confidence) / 2 for n in version.class_names if n != label}
    when = timezone.now() - timedelta(days=days_ago)
    Classification.objects.filter(pk=row.pk).update(
        status="done", predicted_label=label, confidence=confidence, probabilities={label: confidence, **others},
        model_version=version, created_at=when, finished_at=when,
    )
    return Classification.objects.get(pk=row.pk)


@pytest.fixture
def rows(active_tiny_model, owner):
    return [
        finished(active_tiny_model, owner, "door-old.jpg", "human", 0.95, days_ago=10),
        finished(active_tiny_model, owner, "garden.png", "no_human", 0.41, days_ago=3),
        finished(active_tiny_model, owner, "door-new.jpg", "uber_eats", 0.72, days_ago=0),
    ]


def test_versions_store_display_names_and_payloads_carry_them(rows, active_tiny_model):
    assert active_tiny_model.display_names == {"human": "Human", "no_human": "No human", "uber_eats": "Uber Eats courier"}
    payload = classification_payload(rows[1])
    assert payload["label_name"] == "No human" and payload["uncertain"] is True
    assert payload["display_names"]["uber_eats"] == "Uber Eats courier"
    assert payload["source_name"] == "Upload form"
    assert classification_payload(rows[0])["uncertain"] is False


def test_cards_show_percentages_with_bars_and_an_uncertain_badge(client, rows):
    page = client.get(reverse("history")).content.decode()
    sure, unsure = page.split('data-id="%s"' % rows[0].public_id)[1], page.split('data-id="%s"' % rows[1].public_id)[1]
    sure, unsure = sure.split("</li>")[0], unsure.split("</li>")[0]
    assert "Human" in sure and '<span class="confidence-value">95%</span>' in sure and "uncertain" not in sure
    assert 'class="meter-fill" style="width:95%"' in sure
    assert "No human" in unsure and "41%" in unsure and '<span class="badge badge--uncertain"' in unsure
    assert ">uncertain</span>" in unsure  # in words, not only a colour
    assert "no_human</span>" not in page  # raw labels are not shown


def test_times_are_time_elements_and_sources_have_one_name(client, rows):
    page = client.get(reverse("history")).content.decode()
    assert f'<time datetime="{rows[2].created_at.isoformat()}" data-when>' in page
    assert "Upload form · <time" in page
    assert "js/present.js" in page


def test_display_names_are_editable_until_the_version_is_activated(client, tiny_bundle, django_user_model):
    staff = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    client.force_login(staff)
    version = versions.import_bundle(tiny_bundle)
    url = reverse("admin:classification_modelversion_change", args=[version.pk])
    form = client.get(url).context["adminform"].form
    data = {key: form.initial.get(key) for key in form.fields if key != "artifact"}
    data.update(class_names=json.dumps(version.class_names), display_names=json.dumps({"uber_eats": "Courier"}),
                name=version.name, architecture=version.architecture, input_size=version.input_size,
                preprocessing=version.preprocessing, description="", is_demo="")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    version.refresh_from_db()
    assert version.display_names["uber_eats"] == "Courier" and version.display_names["human"] == "Human"

    bad = client.post(url, {**data, "display_names": json.dumps({"cat": "Cat"})})
    assert "Not classes of this model: cat" in bad.content.decode()

    versions.activate(version)
    assert version.activated_at is not None
    page = client.get(url)
    fields = page.context["adminform"].form.fields
    for name in ("class_names", "display_names", "input_size", "preprocessing", "artifact"):
        assert name not in fields
    client.post(url, {**data, "display_names": json.dumps({"uber_eats": "Changed"}), "input_size": 64})
    version.refresh_from_db()
    assert version.display_names["uber_eats"] == "Courier" and version.input_size == 32


def test_history_filters_by_name_dates_and_confidence(client, rows):
    def names(**query):
        page = client.get(reverse("history"), query)
        return sorted(c.original_name for kind, c in page.context["page"])

    assert names(q="door") == ["door-new.jpg", "door-old.jpg"]
    today = timezone.localdate()
    assert names(date_from=(today - timedelta(days=5)).isoformat()) == ["door-new.jpg", "garden.png"]
    assert names(date_to=(today - timedelta(days=5)).isoformat()) == ["door-old.jpg"]
    assert names(min_confidence=50, max_confidence=90) == ["door-new.jpg"]
    assert names(min_confidence="lots") == ["door-new.jpg", "door-old.jpg", "garden.png"]  # left out, said so
    assert "Left out" in client.get(reverse("history"), {"min_confidence": 150}).content.decode()
    page = client.get(reverse("history"), {"q": "door"}).content.decode()
    assert 'data-count="2"' in page and "export.csv?q=door" in page and "export.json?q=door" in page


def test_exports_follow_the_filters(client, rows, active_tiny_model, owner):
    finished(active_tiny_model, owner, "=HYPERLINK(evil).jpg", "human", 0.9)
    response = client.get(reverse("history-export-csv"), {"q": "door"})
    assert response["Content-Disposition"].startswith("attachment;")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["original_name"] for row in table] == ["door-new.jpg", "door-old.jpg"]
    assert table[0]["label_name"] == "Uber Eats courier" and table[0]["confidence"] == "0.72"
    every = b"".join(client.get(reverse("history-export-csv")).streaming_content).decode()
    assert "'=HYPERLINK(evil).jpg" in every  # never a formula in a spreadsheet

    exported = client.get(reverse("history-export-json"), {"min_confidence": 90})
    data = json.loads(b"".join(exported.streaming_content))["classifications"]
    assert sorted(row["original_name"] for row in data) == ["=HYPERLINK(evil).jpg", "door-old.jpg"]
    nothing = client.get(reverse("history-export-json"), {"q": "no such name"})
    assert json.loads(b"".join(nothing.streaming_content)) == {"classifications": []}


def test_result_page_walks_the_filtered_list_and_keeps_the_filters(client, rows):
    newest, middle, oldest = rows[2], rows[1], rows[0]
    page = client.get(reverse("classification-detail", args=[middle.public_id])).content.decode()
    assert f'id="newer" rel="prev" href="/classifications/{newest.public_id}/"' in page
    assert f'id="older" rel="next" href="/classifications/{oldest.public_id}/"' in page

    filtered = client.get(reverse("classification-detail", args=[newest.public_id]), {"q": "door"}).content.decode()
    assert f'href="/classifications/{oldest.public_id}/?q=door"' in filtered  # garden.png is filtered out
    assert 'id="newer"' not in filtered
    assert 'id="back-to-history" href="/history/?q=door"' in filtered

    download = client.get(reverse("classification-json", args=[middle.public_id]))
    assert download["Content-Disposition"] == f'attachment; filename="classification-{middle.public_id}.json"'
    assert json.loads(download.content)["label_name"] == "No human"


def test_someone_elses_result_json_is_404(client, rows, django_user_model):
    client.force_login(django_user_model.objects.create_user("other", password="pw"))
    assert client.get(reverse("classification-json", args=[rows[0].public_id])).status_code == 404


def test_a_time_that_is_not_there_reads_as_the_fallback(client, owner):
    """A camera never captured has no state: its timeline says "never" (it was a 500)."""
    from classification.models import Camera

    camera = Camera.objects.create(owner=owner, name="porch", kind=Camera.Kind.MJPEG, url="http://127.0.0.1:9/s.mjpg")
    page = client.get(reverse("camera-timeline", args=[camera.public_id]))
    assert page.status_code == 200 and "last frame never" in page.content.decode()
