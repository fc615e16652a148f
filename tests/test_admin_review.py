"""Admin review: list, filters, one-click reviews, the queue, statistics, export, permissions."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from classification.models import Classification
from classification.intake.submission import submit_image
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:classification_classification_changelist"


@pytest.fixture
def results(active_tiny_model):
    """Three finished classifications with known labels and confidences."""
    made = []
    for name, label, confidence in [("a.jpg", "human", 0.95), ("b.jpg", "no_human", 0.41), ("c.jpg", "uber_eats", 0.55)]:
        row = submit_image(data=image_bytes(color=(len(made) * 60, 0, 0)), original_name=name)
        others = {n: (1 - confidence) / 2 for n in active_tiny_model.class_names if n != label}
        Classification.objects.filter(pk=row.pk).update(
            status="done", predicted_label=label, confidence=confidence, probabilities={label: confidence, **others},
            model_version=active_tiny_model, finished_at=timezone.now(),
        )
        made.append(Classification.objects.get(pk=row.pk))
    return made


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("reviewer", "r@example.com", "pw")


def test_changelist_shows_thumbnails_and_filters(client, staff, results):
    client.force_login(staff)
    page = client.get(reverse(CHANGELIST)).content.decode()
    for row in results:
        assert reverse("admin:classification_classification_thumbnail", args=[row.pk]) in page

    low = client.get(reverse(CHANGELIST), {"confidence": "low"}).context["cl"].queryset
    assert sorted(row.original_name for row in low) == ["b.jpg", "c.jpg"]
    unreviewed = client.get(reverse(CHANGELIST), {"reviewed": "no"}).context["cl"].queryset
    assert unreviewed.count() == 3
    searched = client.get(reverse(CHANGELIST), {"q": "uber_eats"}).context["cl"].queryset
    assert [row.original_name for row in searched] == ["c.jpg"]


def test_detail_page_shows_large_image_and_every_probability(client, staff, results):
    client.force_login(staff)
    row = results[0]
    page = client.get(reverse("admin:classification_classification_change", args=[row.pk])).content.decode()
    assert reverse("admin:classification_classification_image", args=[row.pk]) in page
    image = client.get(reverse("admin:classification_classification_image", args=[row.pk]))
    assert b"".join(image.streaming_content) == row.image.open("rb").read()  # staff see what nobody else may
    for label, probability in row.probabilities.items():
        assert f"<th>{label}</th><td>{probability:.4f}</td>" in page


def test_confirm_action_records_reviewer_and_time(client, staff, results):
    client.force_login(staff)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "confirm_predictions", "_selected_action": [results[0].pk, results[1].pk]},
    )
    assert response.status_code == 302
    confirmed = Classification.objects.exclude(reviewed_label="")
    assert {(row.original_name, row.reviewed_label) for row in confirmed} == {("a.jpg", "human"), ("b.jpg", "no_human")}
    assert all(row.reviewed_by == staff and row.reviewed_at for row in confirmed)


def test_correct_action_sets_the_chosen_label(client, staff, results):
    client.force_login(staff)
    client.post(reverse(CHANGELIST), {"action": "review_as_human", "_selected_action": [results[1].pk]})
    row = Classification.objects.get(pk=results[1].pk)
    assert (row.reviewed_label, row.predicted_label, row.reviewed_by) == ("human", "no_human", staff)


def test_editable_column_reviews_in_one_click_and_attributes_each_user(client, django_user_model, results):
    first = django_user_model.objects.create_superuser("ann", "a@example.com", "pw")
    second = django_user_model.objects.create_superuser("bob", "b@example.com", "pw")

    for user, row, label in [(first, results[0], "no_human"), (second, results[2], "uber_eats")]:
        client.force_login(user)
        changelist = client.get(reverse(CHANGELIST), {"q": row.original_name})
        formset = changelist.context["cl"].formset
        data = {
            "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(row.pk), "form-0-reviewed_label": label, "_save": "Save",
        }
        assert formset.total_form_count() == 1
        response = client.post(reverse(CHANGELIST) + f"?q={row.original_name}", data)
        assert response.status_code == 302, response.content[:2000]

    reviewed = {row.original_name: row for row in Classification.objects.exclude(reviewed_label="")}
    assert (reviewed["a.jpg"].reviewed_label, reviewed["a.jpg"].reviewed_by) == ("no_human", first)
    assert (reviewed["c.jpg"].reviewed_label, reviewed["c.jpg"].reviewed_by) == ("uber_eats", second)
    assert "b.jpg" not in reviewed


def test_review_queue_is_lowest_confidence_first_and_drops_reviewed(client, staff, results):
    client.force_login(staff)
    url = reverse("admin:classification_reviewqueueitem_changelist")
    queue = [row.original_name for row in client.get(url).context["cl"].result_list]
    assert queue == ["b.jpg", "c.jpg", "a.jpg"]

    client.post(url, {"action": "confirm_predictions", "_selected_action": [results[1].pk]})
    assert [row.original_name for row in client.get(url).context["cl"].result_list] == ["c.jpg", "a.jpg"]


def test_statistics_page_reports_coverage_accuracy_and_confusion(client, staff, results):
    client.force_login(staff)
    client.post(reverse(CHANGELIST), {"action": "confirm_predictions", "_selected_action": [results[0].pk]})
    client.post(reverse(CHANGELIST), {"action": "review_as_human", "_selected_action": [results[1].pk]})

    response = client.get(reverse("admin:classification_statistics"))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<span id="coverage-percent">66.7%</span>' in page
    [version_row] = response.context["per_version"]
    assert (version_row["reviewed"], version_row["correct"], version_row["accuracy"]) == (2, 1, 0.5)
    assert response.context["confusion"]["confusion_matrix"][0] == [1, 1, 0]  # true human: 1 right, 1 as no_human
    assert 'id="confusion-chart" src="data:image/png;base64,' in page
    assert 'id="daily-chart" src="data:image/png;base64,' in page


def test_export_reviewed_images_as_a_training_zip(client, staff, results):
    client.force_login(staff)
    client.post(reverse(CHANGELIST), {"action": "review_as_uber_eats", "_selected_action": [results[0].pk]})
    client.post(reverse(CHANGELIST), {"action": "confirm_predictions", "_selected_action": [results[1].pk]})

    response = client.post(
        reverse(CHANGELIST), {"action": "export_reviewed_dataset", "_selected_action": [r.pk for r in results]}
    )

    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted([f"uber_eats/{results[0].pk}.jpg", f"no_human/{results[1].pk}.jpg"])
    assert archive.read(f"no_human/{results[1].pk}.jpg") == results[1].image.open("rb").read()


def test_non_staff_reach_neither_admin_nor_statistics(client, django_user_model, results):
    user = django_user_model.objects.create_user("visitor", password="pw")
    client.force_login(user)
    for url in (reverse(CHANGELIST), reverse("admin:classification_statistics"),
                reverse("admin:classification_reviewqueueitem_changelist")):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(reverse(CHANGELIST), {"action": "confirm_predictions", "_selected_action": [results[0].pk]})
    assert response.status_code == 302
    assert not Classification.objects.exclude(reviewed_label="").exists()


def test_unknown_label_is_refused(staff, results):
    from classification.review.reviews import ReviewError, review

    with pytest.raises(ReviewError, match="not a known class"):
        review(results[0], label="cat", user=staff)
    assert Classification.objects.get(pk=results[0].pk).reviewed_label == ""
