"""Model switches between tasks, backoff for a version that fails to load, SageMaker class-name checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from classification import tasks
from classification.intake.submission import submit_image
from classification.models import Classification, ModelVersion
from classification.registry import compiling, versions
from classification.serving import process_model
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_process(monkeypatch):
    """This test process as a new serving process: nothing loaded yet, no broker companions."""
    monkeypatch.setattr(process_model, "state", process_model.LoadedModel())
    monkeypatch.setattr(tasks.batching, "_take", lambda limit: [])


def test_a_switch_happens_before_the_tasks_rows_are_claimed(active_tiny_model, tiny_bundle, fresh_process, monkeypatch):
    process_model.ensure_loaded()
    newer = versions.import_bundle(tiny_bundle, activate_now=True)
    row = submit_image(data=image_bytes(), original_name="a.jpg")
    seen_at_load = []
    real_load = process_model._load

    def load(version):
        seen_at_load.append(Classification.objects.get(pk=row.pk).status)
        real_load(version)

    monkeypatch.setattr(process_model, "_load", load)
    tasks.classify_image(row.pk)

    assert seen_at_load == ["queued"]  # the load came first: no row sat "running" behind it
    row.refresh_from_db()
    assert (row.status, row.model_version_id) == ("done", newer.pk)


def test_a_version_that_fails_to_load_is_recorded_and_retried_only_after_a_doubling_backoff(
    active_tiny_model, tiny_bundle, fresh_process, monkeypatch, settings
):
    process_model.ensure_loaded()
    broken = versions.import_bundle(tiny_bundle, activate_now=True)
    attempts = []
    real_build = process_model._build_predictor

    def build(version):
        if version.pk == broken.pk:
            attempts.append(timezone.now())
            raise OSError("model.keras: truncated file")
        return real_build(version)

    monkeypatch.setattr(process_model, "_build_predictor", build)

    for _ in range(5):  # five tasks in a row: one attempt
        predictor, serving = process_model.ensure_loaded()
        assert serving.pk == active_tiny_model.pk  # the previous model keeps serving
    broken.refresh_from_db()
    assert len(attempts) == 1
    assert broken.load_error == "model.keras: truncated file" and broken.load_failures == 1
    assert broken.load_failed_at is not None

    def seconds_later(seconds: float) -> None:
        ModelVersion.objects.filter(pk=broken.pk).update(load_failed_at=timezone.now() - timedelta(seconds=seconds))

    seconds_later(settings.CLASSIFIER["LOAD_RETRY_SECONDS"] + 1)  # first backoff (10 s) over: tried again
    process_model.ensure_loaded()
    assert len(attempts) == 2
    seconds_later(settings.CLASSIFIER["LOAD_RETRY_SECONDS"] + 1)  # now it waits 20 s
    process_model.ensure_loaded()
    assert len(attempts) == 2
    ModelVersion.objects.filter(pk=broken.pk).update(load_failures=30)
    broken.refresh_from_db()
    cap = timedelta(seconds=settings.CLASSIFIER["LOAD_RETRY_MAX_SECONDS"])
    assert not versions.load_retry_due(broken, now=broken.load_failed_at + cap - timedelta(seconds=1))
    assert versions.load_retry_due(broken, now=broken.load_failed_at + cap)

    versions.activate(broken)  # activating it again is a deliberate retry
    broken.refresh_from_db()
    assert (broken.load_error, broken.load_failures, broken.load_failed_at) == ("", 0, None)


def test_with_no_model_loaded_a_failed_load_fails_the_rows_with_the_reason(active_tiny_model, fresh_process, monkeypatch):
    monkeypatch.setattr(process_model, "_build_predictor", lambda version: (_ for _ in ()).throw(OSError("no such file")))
    row = submit_image(data=image_bytes(), original_name="a.jpg")

    tasks.classify_image(row.pk)

    row.refresh_from_db()
    assert row.status == "failed" and "no model loaded" in row.error_message
    assert ModelVersion.objects.get(pk=active_tiny_model.pk).load_error == "no such file"


@pytest.fixture
def sagemaker(settings):
    settings.CLASSIFIER_INFERENCE_BACKEND = "sagemaker"
    settings.CLASSIFIER_SAGEMAKER_ENDPOINT = "classifier"
    return settings


def test_sagemaker_refuses_a_version_whose_classes_are_not_the_endpoints(active_tiny_model, tiny_bundle, sagemaker,
                                                                       django_user_model):
    from classification.accounts import tokens

    other = versions.import_bundle(tiny_bundle)
    ModelVersion.objects.filter(pk=other.pk).update(class_names=["cat", "dog", "bird"])
    sagemaker.CLASSIFIER_SAGEMAKER_CLASS_NAMES = list(active_tiny_model.class_names)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens.create_token(django_user_model.objects.create_superuser('root'), 't')[1]}")

    refused = client.post(f"/api/v1/model-versions/{other.pk}/activate/")

    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "endpoint_mismatch"
    assert "serves " + ", ".join(active_tiny_model.class_names) in refused.json()["error"]["message"]
    assert ModelVersion.objects.get(is_active=True).pk == active_tiny_model.pk

    same_classes = versions.import_bundle(tiny_bundle)
    assert client.post(f"/api/v1/model-versions/{same_classes.pk}/activate/").status_code == 200

    sagemaker.CLASSIFIER_SAGEMAKER_CLASS_NAMES = []  # unknown: nothing can be checked, so nothing is activated
    with pytest.raises(versions.ActivationRefused, match="CLASSIFIER_SAGEMAKER_CLASS_NAMES"):
        versions.activate(active_tiny_model)


def test_the_admin_says_why_a_sagemaker_activation_was_refused(admin_client, active_tiny_model, tiny_bundle, sagemaker):
    other = versions.import_bundle(tiny_bundle)
    ModelVersion.objects.filter(pk=other.pk).update(class_names=["cat", "dog", "bird"])
    sagemaker.CLASSIFIER_SAGEMAKER_CLASS_NAMES = list(active_tiny_model.class_names)

    response = admin_client.post("/admin/classification/modelversion/",
                                 {"action": "activate_version", "_selected_action": [other.pk]}, follow=True)

    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("Refused:" in text and "SageMaker endpoint" in text for text in messages), messages
    assert ModelVersion.objects.get(is_active=True).pk == active_tiny_model.pk


def test_a_task_finding_its_version_still_active_reads_only_what_says_so(active_tiny_model, fresh_process):
    """The check every task makes reads a few columns of the active version, not the whole row with its
    metrics and report lists; a version that changed is then read whole (the switch tests above)."""
    process_model.ensure_loaded()
    with CaptureQueriesContext(connection) as queries:
        predictor, serving = process_model.ensure_loaded()
    assert serving.pk == active_tiny_model.pk and predictor is process_model.state.predictor
    assert len(queries) == 1
    selected = queries[0]["sql"].split(" FROM ")[0]
    assert '"onnx_sha256"' in selected and '"metrics"' not in selected and '"report_files"' not in selected


def test_a_version_compiled_after_it_was_loaded_is_served_from_its_export_at_the_next_task(
    active_tiny_model, fresh_process
):
    """The few columns the check reads include the export's: a change there is a switch, as a new version is."""
    assert process_model.ensure_loaded()[0].runtime_name == "tensorflow"  # not compiled yet: Keras serves

    compiling.compile_version(active_tiny_model.pk)
    predictor, version = process_model.ensure_loaded()

    assert predictor.runtime_name == "onnxruntime" and version.pk == active_tiny_model.pk
    assert process_model.state.load_count == 2


def test_the_quick_check_never_answers_with_a_pair_a_half_done_load_has_not_replaced_yet(
    active_tiny_model, tiny_bundle, fresh_process
):
    """The idle watcher's load sets the new version before the pair that serves: a task looking meanwhile
    must not take the old pair for the new version's."""
    predictor, _ = process_model.ensure_loaded()
    newer = versions.import_bundle(tiny_bundle, activate_now=True)
    process_model.state.version = ModelVersion.objects.get(pk=newer.pk)  # where _load stands between its steps

    _, serving = process_model.ensure_loaded()

    assert serving.pk == newer.pk
