"""The REST API under /api/v1/: every endpoint, authentication, throttling and each error case.

No worker here: rows are created through the API (queued) or directly in the
database. The worker flow and the README examples are in test_api_flow.py,
schemathesis in test_api_schema.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.urls import reverse
from PIL import Image
from rest_framework import exceptions
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from classification.accounts import tokens
from classification.api.errors import exception_handler
from classification.api.serializers import API_EXTRA_FIELDS, ClassificationSerializer
from classification.api.throttling import UploadRateThrottle
from classification.models import Classification, ModelVersion
from classification.serving.payloads import classification_payload
from tests.conftest import image_bytes, stored_files

pytestmark = pytest.mark.django_db

API = "/api/v1"
LIST = f"{API}/classifications/"


# --- fixtures shared by the test_api*.py modules --------------------------------


@pytest.fixture(autouse=True)
def fresh_throttle_cache(monkeypatch):
    """Each test counts requests from zero (the real cache is Redis, shared between tests)."""
    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache(f"throttle-{uuid.uuid4().hex}", {}))


def set_rates(monkeypatch, **rates):
    """Throttle rates for one test (DRF reads them once, at import, so settings overrides do not reach them)."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates})


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens.create_token(user, 'tests')[1]}")
    return client


@pytest.fixture
def api(user) -> APIClient:
    return token_client(user)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def jpeg(name="red.jpg", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(**kwargs), "image/jpeg")


def upload(client, *files, query: str = "", **extra):
    return client.post(f"{LIST}{query}", {"files": list(files)}, format="multipart", **extra)


def assert_error(response, status: int, code: str, message: str = "") -> dict:
    """The one error shape: {"error": {"code", "message", "fields"?, "rejected"?}}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields", "rejected"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert message in error["message"]
    return error


def make_row(**fields) -> Classification:
    """A stored row; give it an owner (``submitted_by`` or ``owner_key``) for anyone but staff to see it."""
    defaults = {"image": "images/x.jpg", "content_hash": "0" * 64, "original_name": "x.jpg", "width": 4, "height": 3}
    return Classification.objects.create(**{**defaults, **fields})


def make_version(name="v", **fields) -> ModelVersion:
    """A version whose stored artifact is a sound (if tiny) Keras archive, so it can be activated."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as keras_file:
        for member in ("config.json", "metadata.json", "model.weights.h5"):
            keras_file.writestr(member, "{}")
    data = archive.getvalue()
    defaults = {
        "architecture": "tiny_cnn",
        "class_names": ["human", "no_human", "uber_eats"],
        "input_size": 32,
        "preprocessing": "rescale",
        "artifact": default_storage.save(f"models/{uuid.uuid4().hex}/model.keras", ContentFile(data)),
        "artifact_sha256": hashlib.sha256(data).hexdigest(),
    }
    return ModelVersion.objects.create(name=name, **{**defaults, **fields})


def _noise_png(side=100) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((side, side), 80).save(buffer, format="PNG")
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()[:1500]


# --- uploads -------------------------------------------------------------------------


def test_upload_with_a_token_is_accepted_and_queued(api, user):
    response = upload(api, jpeg("red.jpg"))

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["rejected"] == []
    [item] = body["accepted"]
    assert (item["status"], item["source"], item["original_name"]) == ("queued", "api", "red.jpg")
    assert item["predicted_label"] is None and item["reviewed_label"] is None
    assert item["status_url"] == f"http://testserver{API}/classifications/{item['id']}/"
    row = Classification.objects.get(public_id=item["id"])
    assert (row.source, row.submitted_by, row.width, row.height) == ("api", user, 64, 48)

    polled = api.get(item["status_url"])
    assert polled.status_code == 200 and polled.json() == item


def test_several_files_each_get_a_row_in_order(api):
    response = upload(api, jpeg("a.jpg"), jpeg("b.jpg", color=(1, 2, 3)), jpeg("c.jpg", color=(9, 9, 9)))

    assert response.status_code == 202
    assert [item["original_name"] for item in response.json()["accepted"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert Classification.objects.filter(source="api").count() == 3


def test_anonymous_upload_is_refused_by_default(anon):
    before = stored_files()
    response = upload(anon, jpeg())

    error = assert_error(response, 401, "not_authenticated", "credentials were not provided")
    assert "fields" not in error
    assert response["WWW-Authenticate"] == "Token"
    assert Classification.objects.count() == 0 and stored_files() == before


def test_anonymous_upload_when_allowed(anon, settings):
    settings.API_ALLOW_ANONYMOUS_WRITES = True
    response = upload(anon, jpeg())

    assert response.status_code == 202
    row = Classification.objects.get(public_id=response.json()["accepted"][0]["id"])
    assert row.submitted_by is None and row.source == "api"
    assert row.owner_key and anon.get(response.json()["accepted"][0]["status_url"]).status_code == 200  # its session's


def test_session_authentication_works_and_needs_csrf(user):
    session = APIClient()
    session.force_login(user)
    assert upload(session, jpeg()).status_code == 202

    strict = APIClient(enforce_csrf_checks=True)
    strict.force_login(user)
    assert_error(upload(strict, jpeg()), 403, "permission_denied", "CSRF")
    assert Classification.objects.count() == 1


def test_invalid_token_is_401_even_for_reads(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(anon.get(LIST), 401, "authentication_failed", "Invalid token")


def test_mixed_batch_answers_202_with_accepted_and_rejected(api):
    response = upload(api, jpeg("good.jpg"), SimpleUploadedFile("notes.jpg", b"just text", "image/jpeg"))

    assert response.status_code == 202
    body = response.json()
    assert [item["original_name"] for item in body["accepted"]] == ["good.jpg"]
    [rejected] = body["rejected"]
    assert rejected["name"] == "notes.jpg"
    assert (rejected["code"], rejected["status"]) == ("unsupported_type", 415)
    assert "not an image" in rejected["message"]
    assert Classification.objects.count() == 1


def test_the_upload_form_rejects_a_file_with_the_same_entry_as_the_api(api, client):
    """Browser scripts and API clients read one shape for a rejected file."""
    bad = lambda: SimpleUploadedFile("notes.jpg", b"just text", "image/jpeg")  # noqa: E731
    from_api = upload(api, jpeg("good.jpg"), bad()).json()["rejected"]
    from_form = client.post(reverse("upload"), {"files": [jpeg("good.jpg"), bad()]}, HTTP_ACCEPT="application/json")
    assert from_form.status_code == 202
    assert from_form.json()["rejected"] == from_api
    assert set(from_api[0]) == {"name", "code", "message", "status"}


@pytest.mark.parametrize(
    "name, data, limits, status, code, message",
    [
        ("notes.jpg", b"this is a text file, not a photo\n", {}, 415, "unsupported_type", "not an image"),
        ("anim.ico", None, {}, 415, "unsupported_type", "ICO images are not accepted"),
        ("empty.jpg", b"", {}, 400, "empty_file", "empty"),
        ("cut.jpg", _truncated_jpeg(), {}, 400, "corrupt_image", "truncated or corrupt"),
        ("noise.png", _noise_png(), {"MAX_UPLOAD_BYTES": 1000}, 413, "file_too_large", "limit is 1,000 bytes"),
        (
            "big.png",
            image_bytes("PNG", size=(101, 100)),
            {"MAX_IMAGE_PIXELS": 10_000},
            413,
            "too_many_pixels",
            "10,100 pixels",
        ),
    ],
)
def test_rejected_upload_is_an_error_and_stores_nothing(api, settings, name, data, limits, status, code, message):
    if data is None:
        data = image_bytes("ICO", size=(16, 16))
    settings.CLASSIFIER = {**settings.CLASSIFIER, **limits}
    before = stored_files()

    response = upload(api, SimpleUploadedFile(name, data, "image/jpeg"))

    error = assert_error(response, status, code, message)
    assert error["rejected"] == [{"name": name, "code": code, "message": error["message"], "status": status}]
    assert error["fields"]["files"] == [f"{name}: {error['message']}"]
    assert Classification.objects.count() == 0
    assert stored_files() == before


def test_missing_file_is_400(api):
    error = assert_error(api.post(LIST, {}, format="multipart"), 400, "missing_file", "at least one image")
    assert error["fields"] == {"files": ["Choose at least one image to upload."]}

    # A file under another field name is no file either.
    other_field = api.post(LIST, {"image": jpeg()}, format="multipart")
    assert_error(other_field, 400, "missing_file")
    assert Classification.objects.count() == 0


def test_too_many_files_is_400(api, settings):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "MAX_FILES_PER_REQUEST": 2}
    assert_error(upload(api, jpeg("1.jpg"), jpeg("2.jpg"), jpeg("3.jpg")), 400, "too_many_files", "at most 2")
    assert Classification.objects.count() == 0


def test_all_files_rejected_for_different_reasons(api):
    response = upload(
        api, SimpleUploadedFile("a.txt", b"text", "text/plain"), SimpleUploadedFile("b.jpg", b"", "image/jpeg")
    )

    error = assert_error(response, 400, "files_rejected", "None of the 2 files")
    assert [(r["name"], r["code"], r["status"]) for r in error["rejected"]] == [
        ("a.txt", "unsupported_type", 415),
        ("b.jpg", "empty_file", 400),
    ]


def test_storage_failure_is_503_and_leaves_nothing(api, monkeypatch):
    def broken_save(self, name, content):
        raise OSError("disk full")

    monkeypatch.setattr(FileSystemStorage, "_save", broken_save)
    error = assert_error(upload(api, jpeg()), 503, "unavailable", "could not be stored")
    assert error["rejected"][0]["status"] == 503
    assert Classification.objects.count() == 0


def test_non_multipart_body_is_415(api):
    response = api.post(LIST, {"files": "x"}, format="json")
    assert_error(response, 415, "unsupported_media_type", "application/json")


def test_request_body_too_large_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(LIST, {"files": [jpeg()], "note": "x" * 5000}, format="multipart")
    assert_error(response, 413, "request_too_large")
    assert Classification.objects.count() == 0


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_invalid_wait_is_400_before_anything_is_stored(api, wait):
    error = assert_error(upload(api, jpeg(), query=f"?wait={wait}"), 400, "invalid", "wait:")
    assert list(error["fields"]) == ["wait"]
    assert Classification.objects.count() == 0


def test_wait_gives_up_after_the_given_seconds(api):
    # No worker runs here (and this test's transaction never commits, so nothing is queued).
    started = time.monotonic()
    response = upload(api, jpeg(), query="?wait=1")

    assert 1.0 <= time.monotonic() - started < 5
    assert response.status_code == 202
    assert response.json()["accepted"][0]["status"] == "queued"


def test_wait_returns_200_when_the_result_is_ready(api, monkeypatch):
    from classification.results import selectors

    def finish_then_poll(ids, *, timeout, interval=0.1):
        Classification.objects.filter(pk__in=ids).update(
            status="done", predicted_label="human", confidence=0.9, probabilities={"human": 0.9, "no_human": 0.1}
        )
        return real(ids, timeout=timeout, interval=interval)

    real = selectors.wait_until_finished
    monkeypatch.setattr(selectors, "wait_until_finished", finish_then_poll)
    started = time.monotonic()
    response = upload(api, jpeg(), query="?wait=30")

    assert time.monotonic() - started < 5
    assert response.status_code == 200
    [item] = response.json()["accepted"]
    assert (item["status"], item["predicted_label"], item["confidence"]) == ("done", "human", 0.9)


# --- reading classifications ----------------------------------------------------------


def test_detail_and_404(api, user):
    row = make_row(status="done", predicted_label="human", confidence=0.7, probabilities={"human": 0.7}, submitted_by=user)
    response = api.get(f"{LIST}{row.public_id}/")
    assert response.status_code == 200
    assert response.json()["predicted_label"] == "human" and response.json()["id"] == str(row.public_id)

    missing = uuid.uuid4()
    assert_error(api.get(f"{LIST}{missing}/"), 404, "not_found", f"No classification {missing} of yours")
    assert_error(api.get(f"{LIST}{row.pk}/"), 404, "not_found")  # the sequential id is no address


def test_api_shape_is_the_shared_payload_plus_api_fields(api, user, staff):
    version = make_version()
    row = make_row(
        status="done",
        predicted_label="human",
        confidence=0.8,
        probabilities={"human": 0.8, "no_human": 0.2},
        model_version=version,
        reviewed_label="no_human",
        reviewed_by=staff,
        reviewed_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        submitted_by=user,
    )
    item = api.get(f"{LIST}{row.public_id}/").json()

    payload = classification_payload(row)
    absolute = {key: f"http://testserver{value}" if key.endswith("_url") else value for key, value in payload.items()}
    assert {key: item[key] for key in payload} == absolute
    assert set(item) == set(payload) | set(API_EXTRA_FIELDS)
    assert set(ClassificationSerializer().fields) == set(item)  # the schema describes exactly this
    assert (item["reviewed_label"], item["reviewed_at"]) == ("no_human", "2025-01-02T03:04:05+00:00")
    assert item["model_version"] == {"id": version.pk, "name": "v"}


def test_list_filters(api, user):
    day = datetime(2025, 3, 10, 12, tzinfo=UTC)
    version = make_version()
    rows = {
        "old_human": make_row(
            status="done", predicted_label="human", confidence=0.95, source="api", created_at=day - timedelta(days=5),
            submitted_by=user,
        ),
        "reviewed": make_row(
            status="done",
            predicted_label="no_human",
            confidence=0.55,
            reviewed_label="human",
            model_version=version,
            created_at=day,
            submitted_by=user,
        ),
        "queued": make_row(status="queued", source="webcam", created_at=day + timedelta(days=1), submitted_by=user),
        "failed": make_row(status="failed", error_message="boom", created_at=day + timedelta(days=2), submitted_by=user),
    }
    make_row(status="done", predicted_label="human", confidence=0.99)  # nobody's: never listed

    def ids(**params):
        response = api.get(LIST, params)
        assert response.status_code == 200, response.content
        names = {str(row.public_id): name for name, row in rows.items()}
        return [names[item["id"]] for item in response.json()["results"]]

    assert ids() == ["failed", "queued", "reviewed", "old_human"]  # newest first
    assert ids(label="human") == ["old_human"]
    assert ids(source="webcam") == ["queued"]
    assert ids(source="api") == ["old_human"]
    assert ids(status="failed") == ["failed"]
    assert ids(reviewed="true") == ["reviewed"]
    assert ids(reviewed="false") == ["failed", "queued", "old_human"]
    assert ids(reviewed_label="human") == ["reviewed"]
    assert ids(model_version=version.pk) == ["reviewed"]
    assert ids(created_after=day.isoformat()) == ["failed", "queued", "reviewed"]
    assert ids(created_before=day.isoformat()) == ["old_human"]
    assert ids(created_after="2025-03-10", created_before="2025-03-11T12:00:00Z") == ["reviewed"]
    assert ids(min_confidence="0.9") == ["old_human"]
    assert ids(max_confidence="0.6") == ["reviewed"]
    assert ids(min_confidence="0.5", max_confidence="1", label="no_human") == ["reviewed"]


def test_list_pagination(api, user):
    anon = api
    for i in range(5):
        make_row(created_at=datetime(2025, 1, 1 + i, tzinfo=UTC), submitted_by=user)

    first = anon.get(LIST, {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/classifications/?page=2&page_size=2"
    last = anon.get(LIST, {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None

    assert len(anon.get(LIST).json()["results"]) == 5  # default page size 50
    assert_error(anon.get(LIST, {"page": 99}), 404, "not_found", "Invalid page")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "bogus"}, "status"),
        ({"source": "fax"}, "source"),
        ({"reviewed": "maybe"}, "reviewed"),
        ({"min_confidence": "2"}, "min_confidence"),
        ({"max_confidence": "high"}, "max_confidence"),
        ({"min_confidence": "0.9", "max_confidence": "0.1"}, "max_confidence"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "2025-02-01", "created_before": "2025-01-01"}, "created_before"),
        ({"model_version": "0"}, "model_version"),
        ({"label": "a\x00b"}, "label"),
    ],
)
def test_invalid_filters_are_400_with_the_field(anon, params, field):
    error = assert_error(anon.get(LIST, params), 400, "invalid", f"{field}:")
    assert list(error["fields"]) == [field]
    assert all(isinstance(message, str) for message in error["fields"][field])


# --- model versions ---------------------------------------------------------------


def test_model_versions_list_and_detail(anon):
    older = make_version("older", created_at=datetime(2024, 1, 1, tzinfo=UTC), metrics={"samples_accuracy": 0.75})
    newer = make_version("newer", is_active=True)

    body = anon.get(f"{API}/model-versions/").json()
    assert [item["name"] for item in body["results"]] == ["newer", "older"]
    assert body["results"][0]["is_active"] is True

    detail = anon.get(f"{API}/model-versions/{older.pk}/").json()
    assert detail["url"] == f"http://testserver{API}/model-versions/{older.pk}/"
    assert detail["class_names"] == ["human", "no_human", "uber_eats"]
    assert (detail["sample_accuracy"], detail["is_active"], detail["input_size"]) == (0.75, False, 32)
    assert "artifact" not in detail
    assert newer.pk != older.pk

    assert_error(anon.get(f"{API}/model-versions/999999/"), 404, "not_found", "No model version with id 999999")


def test_activate_needs_the_change_permission_on_model_versions(anon, api, staff, django_user_model):
    current = make_version("current", is_active=True)
    target = make_version("target")
    url = f"{API}/model-versions/{target.pk}/activate/"

    assert_error(anon.post(url), 401, "not_authenticated")
    assert_error(api.post(url), 403, "permission_denied", "change permission on model versions")
    assert_error(token_client(staff).post(url), 403, "permission_denied")  # staff, but no permission
    assert ModelVersion.objects.get(is_active=True) == current

    response = token_client(django_user_model.objects.create_superuser("admin")).post(url)
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is True and response.json()["id"] == target.pk
    assert ModelVersion.objects.get(is_active=True) == target

    assert_error(token_client(django_user_model.objects.get(username="admin")).post(
        f"{API}/model-versions/999999/activate/"), 404, "not_found")


# --- throttling ----------------------------------------------------------------------


def test_uploads_have_their_own_rate(api, monkeypatch):
    set_rates(monkeypatch, uploads="2/min")
    assert upload(api, jpeg()).status_code == 202
    assert upload(api, jpeg()).status_code == 202

    response = upload(api, jpeg())
    assert_error(response, 429, "throttled", "throttled")
    assert int(response["Retry-After"]) > 0
    assert Classification.objects.count() == 2
    assert api.get(LIST).status_code == 200  # reads are not uploads


def test_uploads_are_counted_per_user(api, django_user_model, monkeypatch):
    set_rates(monkeypatch, uploads="1/min")
    bob = token_client(django_user_model.objects.create_user("bob"))
    assert upload(api, jpeg()).status_code == 202
    assert upload(api, jpeg()).status_code == 429
    assert upload(bob, jpeg()).status_code == 202


def test_anonymous_reads_are_throttled_per_ip(anon, api, monkeypatch):
    set_rates(monkeypatch, anon="2/min")
    assert [anon.get(LIST).status_code for _ in range(2)] == [200, 200]
    assert_error(anon.get(LIST), 429, "throttled")
    other_ip = anon.get(LIST, REMOTE_ADDR="10.1.2.3")
    assert other_ip.status_code == 200
    assert api.get(LIST).status_code == 200  # a signed-in user counts against the user rate instead


def test_users_are_throttled_per_user(api, django_user_model, monkeypatch):
    set_rates(monkeypatch, user="2/min")
    assert [api.get(LIST).status_code for _ in range(2)] == [200, 200]
    assert_error(api.get(LIST), 429, "throttled")
    assert token_client(django_user_model.objects.create_user("carol")).get(LIST).status_code == 200


def test_upload_rate_comes_from_settings():
    from rest_framework.settings import api_settings

    expected = os.environ.get("API_THROTTLE_UPLOADS", "60/min")
    assert api_settings.DEFAULT_THROTTLE_RATES["uploads"] == expected
    assert UploadRateThrottle().rate == expected


# --- errors everywhere ----------------------------------------------------------------


def test_unknown_api_paths_are_json_404s(anon):
    assert_error(anon.get(f"{API}/nothing-here/"), 404, "not_found", "No API endpoint at /api/v1/nothing-here/")
    assert_error(anon.get(f"{API}/classifications/abc/"), 404, "not_found")
    hint = assert_error(anon.get(f"{API}/classifications"), 404, "not_found")
    assert "Did you mean /api/v1/classifications/?" in hint["message"]


def test_wrong_method_is_405_in_the_error_shape(api, user):
    row = make_row(submitted_by=user)
    assert_error(api.put(f"{LIST}{row.public_id}/"), 405, "method_not_allowed", "PUT")
    assert_error(api.delete(f"{API}/model-versions/"), 405, "method_not_allowed", "DELETE")


def test_exception_handler_maps_django_errors_and_flattens_fields():
    handled = exception_handler(Http404("gone"), {})
    assert (handled.status_code, handled.data["error"]["code"]) == (404, "not_found")
    assert exception_handler(PermissionDenied(), {}).data["error"]["code"] == "permission_denied"
    assert exception_handler(RequestDataTooBig(), {}).status_code == 413

    nested = exceptions.ValidationError({"a": ["bad a"], "b": {"c": ["bad c"]}, "d": [{"e": ["bad e"]}]})
    error = exception_handler(nested, {}).data["error"]
    assert error["fields"] == {"a": ["bad a"], "b.c": ["bad c"], "d.0.e": ["bad e"]}
    assert error["message"] == "a: bad a; b.c: bad c; d.0.e: bad e"
    plain = exception_handler(exceptions.ValidationError("nope"), {}).data["error"]
    assert plain == {"code": "invalid", "message": "nope", "fields": {"non_field_errors": ["nope"]}}
    assert exception_handler(ValueError("a bug"), {}) is None  # bugs stay 500s, with Django's logging


# --- schema and docs ---------------------------------------------------------------


def test_schema_documents_every_endpoint_and_error(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/classifications/",
        "/api/v1/classifications/{id}/",
        "/api/v1/classifications/{id}/suggestion/",
        "/api/v1/model-versions/",
        "/api/v1/model-versions/{id}/",
        "/api/v1/model-versions/{id}/activate/",
        "/api/v1/cameras/",
        "/api/v1/cameras/{id}/",
        "/api/v1/cameras/{id}/events/",
    }
    create = paths["/api/v1/classifications/"]["post"]
    assert set(create["responses"]) == {"200", "202", "400", "401", "403", "413", "415", "429", "503"}
    body = create["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][body]["properties"]["files"]["items"]["format"] == "binary"
    assert [p["name"] for p in create["parameters"]] == ["wait"]
    list_params = {p["name"] for p in paths["/api/v1/classifications/"]["get"]["parameters"]}
    assert {"label", "source", "status", "reviewed", "created_after", "created_before"} <= list_params
    assert {"min_confidence", "max_confidence", "page", "page_size"} <= list_params
    assert set(paths["/api/v1/model-versions/{id}/activate/"]["post"]["responses"]) == {
        "200", "401", "403", "404", "409", "429"
    }
    for path in paths.values():
        for operation in path.values():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
                    assert answer["description"]


def test_swagger_ui_is_served_from_our_own_static_files(anon):
    response = anon.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    # No inline script (the CSP forbids it): the set-up script is its own request, naming the schema.
    assert '<script src="/api/docs/?script="></script>' in page
    assert b"/api/schema/" in anon.get("/api/docs/?script=").content
