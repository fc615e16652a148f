"""Health, readiness, metrics, production security settings, rate limits, sign-in requirement."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from classification.intake import submission
from classification.models import Classification, WorkerProcess
from tests.conftest import REPO_DIR, image_bytes

pytestmark = pytest.mark.django_db


def test_liveness_needs_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_not_ready_without_a_worker_that_loaded_the_active_model(client, active_tiny_model):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert (body["checks"]["database"], body["checks"]["broker"]) == ("ok", "ok")
    assert "no live classify worker" in body["checks"]["model"]


@pytest.mark.django_db(transaction=True)
def test_ready_once_a_live_worker_serves_the_active_model(client, active_tiny_model, celery_worker):
    assert WorkerProcess.objects.filter(model_version=active_tiny_model, role="classify").exists()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["model"].startswith("tiny-test-model served by 1 live classify process")


def _process(pid: int, version, *, role: str = "classify", seconds_ago: float = 0.0) -> WorkerProcess:
    return WorkerProcess.objects.create(hostname="worker-host", pid=pid, role=role, model_version=version,
                                        load_count=1, last_seen=timezone.now() - timedelta(seconds=seconds_ago))


def test_a_worker_whose_heartbeats_stopped_does_not_count(client, active_tiny_model, settings):
    # It reported the model once, but has not beaten for three heartbeats: it is dead.
    _process(1, active_tiny_model, seconds_ago=3 * settings.CLASSIFIER["HEARTBEAT_SECONDS"] + 1)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no live classify worker" in response.json()["checks"]["model"]
    assert "classifier_worker_processes_serving_active_model 0.0" in client.get("/metrics").content.decode()


def test_a_live_training_worker_does_not_make_the_service_ready(client, active_tiny_model):
    _process(1, active_tiny_model, role="training")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no live classify worker" in response.json()["checks"]["model"]


def test_a_failed_switch_stays_ready_on_the_previous_model_and_says_so(client, active_tiny_model, tiny_bundle):
    from classification.registry import versions

    _process(1, active_tiny_model)
    broken = versions.import_bundle(tiny_bundle)
    versions.activate(broken)
    assert client.get("/readyz").status_code == 503  # not switched yet, and not failed: switching
    versions.record_load_failure(broken, OSError("model.keras: truncated file"))

    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    detail = response.json()["checks"]["model"]
    assert "failed to load (model.keras: truncated file); still serving tiny-test-model" in detail


def test_metrics_count_live_processes_only(client, active_tiny_model, settings):
    _process(1, active_tiny_model)
    _process(2, active_tiny_model, seconds_ago=3 * settings.CLASSIFIER["HEARTBEAT_SECONDS"] + 1)
    _process(3, None, role="training")

    body = client.get("/metrics").content.decode()

    assert "classifier_worker_processes_serving_active_model 1.0" in body
    assert 'classifier_worker_processes{role="classify"} 1.0' in body
    assert 'classifier_worker_processes{role="training"} 1.0' in body


def test_metrics_report_requests_classifications_and_queues(client, active_tiny_model):
    client.post(reverse("upload"), {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]},
                HTTP_ACCEPT="application/json")
    Classification.objects.update(status="done", predicted_label="human")

    body = client.get("/metrics").content.decode()

    assert 'classifier_classifications_total{label="human",source="upload",status="done"} 1.0' in body
    assert 'classifier_queue_depth{queue="' in body
    assert 'classifier_http_request_duration_seconds_count{method="POST",status="202",view="upload"}' in body
    assert "classifier_classification_seconds_bucket" in body
    assert "classifier_worker_processes_serving_active_model 0.0" in body


def test_metrics_histogram_counts_worker_time_of_the_last_hour(client, active_tiny_model):
    rows = [submission.submit_image(data=image_bytes(color=(i, 9, 9)), original_name=f"{i}.jpg") for i in range(4)]
    now = timezone.now()
    for row, seconds in zip(rows, (0.004, 0.02, 0.3, 7.0)):
        Classification.objects.filter(pk=row.pk).update(
            status="done", started_at=now - timedelta(seconds=seconds), finished_at=now)
    Classification.objects.filter(pk=rows[0].pk).update(
        started_at=now - timedelta(hours=2, seconds=1), finished_at=now - timedelta(hours=2))  # outside the hour

    body = client.get("/metrics").content.decode()

    bucket = lambda le: f'classifier_classification_seconds_bucket{{le="{le}"}}'  # noqa: E731
    assert f"{bucket('0.005')} 0.0" in body  # the 4 ms row finished two hours ago
    assert f"{bucket('0.025')} 1.0" in body
    assert f"{bucket('0.5')} 2.0" in body
    assert f"{bucket('10.0')} 3.0" in body and f"{bucket('+Inf')} 3.0" in body
    assert "classifier_classification_seconds_count 3.0" in body
    assert "classifier_classification_seconds_sum 7.32" in body


def test_production_settings_pass_the_deploy_check():
    """The production settings: behind the TLS proxy, as docker-compose.yml runs them."""
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
           "DJANGO_BEHIND_TLS_PROXY": "true", "DJANGO_SETTINGS_MODULE": "classifier_site.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_published_example_secret_key_is_refused():
    env = {**os.environ, "DJANGO_SECRET_KEY": "dev-only-insecure-key-change-me",
           "DJANGO_SETTINGS_MODULE": "classifier_site.settings"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "set a long random one" in result.stderr


def test_pages_carry_a_content_security_policy(client, active_tiny_model):
    policy = client.get(reverse("upload"))["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in policy
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "cdn" not in docs.content.decode().lower()  # Swagger UI served locally


def test_upload_form_is_rate_limited(client, active_tiny_model, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "UPLOAD_RATE": "2/min"}
    from django.core.cache import cache

    cache.clear()
    statuses = []
    for i in range(3):
        response = client.post(reverse("upload"), {"files": [SimpleUploadedFile(f"{i}.jpg", image_bytes(), "image/jpeg")]},
                               HTTP_ACCEPT="application/json")
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]
    assert "Too many uploads" in response.json()["rejected"][0]["message"]
    assert Classification.objects.count() == 2


def test_require_login_covers_pages_images_and_api(client, active_tiny_model, settings, django_user_model):
    settings.CLASSIFIER_REQUIRE_LOGIN = True
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "classification.ops.middleware.LoginRequiredMiddleware"]
    member = django_user_model.objects.create_user("member", password="pw")
    row = submission.submit_image(data=image_bytes(), user=member)

    for url in (reverse("upload"), reverse("history"), reverse("classification-image", args=[row.public_id])):
        response = client.get(url)
        assert response.status_code == 302 and "/account/login/" in response["Location"], url
    assert client.get(reverse("login")).status_code == 200
    assert client.get("/api/v1/classifications/").status_code in (401, 403)
    assert client.get("/healthz").status_code == 200

    client.force_login(member)
    assert client.get(reverse("classification-image", args=[row.public_id])).status_code == 200
    assert client.get("/api/v1/classifications/").status_code == 200
