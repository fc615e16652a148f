"""The admin and the API docs as people use them: links from the admin index, honest statistics on few
reviews, a training form that checks its data before queuing, failures in the list, the favicon, the
API docs in the navigation with how to authenticate, and a schema a browser shows."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from classification.intake.submission import submit_image
from classification.models import Classification, TrainingRun, WorkerProcess
from classification.training import runs
from tests.conftest import image_bytes
from tests.ml.fakes import make_dataset
from tests.test_s3 import s3, s3_endpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("chief", "c@example.com", "pw")
    client.force_login(user)
    return user


def test_admin_index_links_the_review_queue_and_statistics_and_names_worker_processes(client, staff):
    page = client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:classification_reviewqueueitem_changelist")}">Review queue</a>' in page
    assert f'href="{reverse("admin:classification_statistics")}">Statistics</a>' in page
    assert "Worker processes" in page and "Worker processs" not in page
    assert WorkerProcess._meta.verbose_name_plural == "worker processes"


def test_every_admin_page_names_the_favicon_and_favicon_ico_answers(client, staff):
    for name in ("admin:index", "admin:classification_classification_changelist", "admin:classification_statistics"):
        assert 'rel="icon" href="/static/favicon.svg"' in client.get(reverse(name)).content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"


def test_statistics_say_when_there_are_too_few_reviews(client, staff, active_tiny_model):
    row = submit_image(data=image_bytes(), original_name="a.jpg")
    Classification.objects.filter(pk=row.pk).update(
        status="done", predicted_label="human", confidence=0.4, model_version=active_tiny_model,
        probabilities={"human": 0.4, "no_human": 0.3, "uber_eats": 0.3}, reviewed_label="no_human",
        reviewed_at=timezone.now(), finished_at=timezone.now())
    page = client.get(reverse("admin:classification_statistics")).content.decode()
    assert '<strong id="review-accuracy">0%</strong> over 1 reviewed image.' in page
    assert "Only 1 review: each one moves this figure by up to 100 points" in page
    assert "only 1 review: too few to trust (at least 30 give a useful figure)" in page


def test_confidence_in_the_admin_is_a_percentage_marked_uncertain(client, staff, active_tiny_model):
    row = submit_image(data=image_bytes(), original_name="a.jpg")
    Classification.objects.filter(pk=row.pk).update(status="done", predicted_label="human", confidence=0.41)
    page = client.get(reverse("admin:classification_classification_changelist")).content.decode()
    assert "41% · uncertain" in page


def training_form(data: str) -> dict:
    return {"data": data, "arch": "basic_cnn", "weights": "none", "epochs": 1, "batch_size": 8}


def test_training_form_checks_the_data_before_queuing(client, staff, tmp_path):
    url = reverse("admin:classification_trainingrun_add")
    missing = client.post(url, training_form(str(tmp_path / "nowhere")))
    assert missing.status_code == 200 and "No folder or .zip file at" in missing.content.decode()
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(image_bytes())
    flat = client.post(url, training_form(str(tmp_path / "flat")))
    assert "has no sub-folders" in flat.content.decode()
    assert not TrainingRun.objects.exists()  # nothing was queued

    runs.check_data_source(str(make_dataset(tmp_path / "data", classes=("blue", "red"), per_class=1)))  # a good one passes


def test_s3_data_is_checked_before_queuing(s3, tmp_path):  # noqa: F811 (fixture from test_s3)
    with pytest.raises(runs.TrainingError, match="holds no objects"):
        runs.check_data_source("s3://classifier-test/no-such-prefix")
    s3.put_object(Bucket="classifier-test", Key="photos/a/1.jpg", Body=image_bytes())
    runs.check_data_source("s3://classifier-test/photos")


def test_training_run_list_says_why_a_run_failed(client, staff):
    TrainingRun.objects.create(data="/x", status="failed", error_message="Traceback …\nValueError: 1 class found")
    TrainingRun.objects.create(data="/y", status="done")
    page = client.get(reverse("admin:classification_trainingrun_changelist")).content.decode()
    assert '<td class="field-failure">ValueError: 1 class found</td>' in page


def test_api_docs_are_in_the_navigation_and_say_how_to_authenticate(client, db):
    home = client.get("/").content.decode()
    assert f'<a href="{reverse("api-docs")}">API</a>' in home
    docs = client.get(reverse("api-docs")).content.decode()
    assert '<html lang="en">' in docs and 'id="how-to-authenticate"' in docs
    assert "Authorization: Token &lt;key&gt;" in docs and reverse("api-tokens") in docs
    assert f'href="{reverse("api-schema")}"' in docs  # the schema, one click away


def test_schema_reads_in_a_browser_and_stays_openapi_for_clients(client, db):
    browser = client.get(reverse("api-schema"), HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser["Content-Type"] == "text/plain; charset=utf-8"
    assert browser["Content-Disposition"].startswith("inline")
    assert b"openapi: 3" in browser.content
    tool = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi")
    assert tool["Content-Type"].startswith("application/vnd.oai.openapi")
    assert client.get(reverse("api-schema"), {"format": "json"}).json()["openapi"].startswith("3")
