"""Safe out of the box: no debug page for anyone else, the site's own error pages, and no input that gives a 500.

Every query parameter of the pages, the status poll, the API's list and the
admin changelists (filters, search, ordering, paging, the date hierarchy) is
fuzzed with Hypothesis, integers far beyond 64 bits and NUL characters
included: each answer must be below 500.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid

import pytest
from django.core.exceptions import MiddlewareNotUsed, PermissionDenied
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from classification.intake.submission import submit_image
from classification.ops.middleware import DebugOnlyForLoopback
from tests.conftest import REPO_DIR, image_bytes
from tests.test_api import fresh_throttle_cache, make_row, make_version  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db


def _settings_value(expression: str, **env: str) -> str:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "classifier_site.settings", **env}
    for name in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY"):
        if name not in env:
            environment.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; print({expression})"],
        cwd=REPO_DIR, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_is_off_and_a_secret_key_is_made_once_and_kept(tmp_path):
    var = str(tmp_path)
    assert _settings_value("settings.DEBUG", VAR_DIR=var) == "False"
    first = _settings_value("settings.SECRET_KEY", VAR_DIR=var)
    assert len(first) >= 50 and first == _settings_value("settings.SECRET_KEY", VAR_DIR=var)  # sessions survive restarts
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _settings_value("settings.SECRET_KEY", VAR_DIR=var, DJANGO_SECRET_KEY="given-" + "x" * 50) == "given-" + "x" * 50
    # Plain HTTP out of the box: no HTTPS redirect or secure-only cookies; served over TLS, both.
    assert _settings_value("(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE)", VAR_DIR=var) == "(False, False)"
    over_tls = _settings_value("(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS)",
                               VAR_DIR=var, DJANGO_BEHIND_TLS_PROXY="true")
    assert over_tls == "(True, True, 31536000)"


def test_debug_mode_answers_only_this_machine(settings, db):
    factory = RequestFactory()
    settings.DEBUG = False
    with pytest.raises(MiddlewareNotUsed):
        DebugOnlyForLoopback(lambda request: None)
    settings.DEBUG = True
    middleware = DebugOnlyForLoopback(lambda request: "answered")
    for address in ("127.0.0.1", "127.8.9.1", "::1"):
        assert middleware(factory.get("/", REMOTE_ADDR=address)) == "answered"
    for address in ("10.0.0.5", "192.168.1.20", "203.0.113.9", "", "not-an-address"):
        with pytest.raises(PermissionDenied):
            middleware(factory.get("/", REMOTE_ADDR=address))

    page = Client().get("/classifications/424242/", REMOTE_ADDR="203.0.113.9")
    assert page.status_code == 403 and b"Traceback" not in page.content and b"settings" not in page.content


def test_the_run_script_refuses_debug_on_a_non_local_address(tmp_path):
    env = {**os.environ, "DJANGO_DEBUG": "true", "HOST": "0.0.0.0", "VAR_DIR": str(tmp_path), "REDIS_URL": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(["bash", "scripts/run.sh"], cwd=REPO_DIR, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "DJANGO_DEBUG is on: refusing to serve on 0.0.0.0" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # stopped before doing anything


def test_error_pages_are_the_site_s_and_json_under_the_api(client, monkeypatch):
    missing = client.get(f"/classifications/{uuid.uuid4()}/")
    assert missing.status_code == 404 and b"<h1>Not found</h1>" in missing.content and b"site.css" in missing.content

    for path in ("/api/v1/nothing/", "/api/schema/nothing", "/api/nothing"):
        answer = client.get(path, HTTP_ACCEPT="text/html")
        assert answer.status_code == 404 and answer["Content-Type"] == "application/json", path
        assert answer.json()["error"]["code"] == "not_found"

    bad_host = client.get("/api/v1/classifications/", HTTP_HOST="evil.example")
    assert bad_host.status_code == 400 and bad_host.json()["error"]["code"] == "bad_request"
    assert b"<h1>Bad request</h1>" in client.get("/history/", HTTP_HOST="evil.example").content

    strict = Client(enforce_csrf_checks=True)
    refused = strict.post("/", {"files": []})
    assert refused.status_code == 403 and b"This form has expired" in refused.content

    from classification.results import selectors

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "visible_to", broken)
    client.raise_request_exception = False
    page = client.get("/history/")
    assert page.status_code == 500 and b"Something went wrong" in page.content and b"a bug" not in page.content
    api = client.get("/api/v1/classifications/", HTTP_ACCEPT="text/html")
    assert api.status_code == 500 and api.json()["error"]["code"] == "server_error"


@pytest.mark.parametrize("path", ["/api/v1/classifications/", "/api/v1/model-versions/"])
def test_the_api_answers_json_to_a_browser(client, path):
    make_version()
    response = client.get(path, HTTP_ACCEPT="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "results" in response.json()


# --- fuzzing every query parameter ---------------------------------------------------------

#: What people and attackers put in query strings: integers beyond 64 bits, odd numbers, dates, NUL, anything.
VALUES = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["9223372036854775808", "99999999999", "-1", "0", "1e309", "nan", "inf", "-0", "0x10", "1.5",
                     "2025-02-30", "2025-13-01T25:61", "9999-12-31T23:59:59Z", "true", "yes", "\x00", "a\x00b",
                     "' OR 1=1 --", "%", "../..", "", " "]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)


def _fuzz(client, path: str, names: list[str], examples: int = 40):
    seen = []

    @given(st.dictionaries(st.sampled_from(names), VALUES, min_size=1, max_size=4))
    @hypothesis_settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def check(params):
        response = client.get(path, params)
        assert response.status_code < 500, (path, params, response.status_code)
        seen.append(response.status_code)

    check()
    return seen


@pytest.fixture
def fuzz_data(active_tiny_model, django_user_model):
    superuser = django_user_model.objects.create_superuser("fuzz-admin")
    version = make_version("fuzzed")
    for label in ("human", "no_human"):
        make_row(status="done", predicted_label=label, confidence=0.7, model_version=version, submitted_by=superuser)
    submit_image(data=image_bytes(), user=superuser)
    return superuser


def test_fuzzed_page_and_status_parameters_never_give_a_500(client, fuzz_data):
    client.force_login(fuzz_data)
    _fuzz(client, "/history/", ["label", "source", "status", "page"])
    _fuzz(client, "/classifications/status.json", ["ids"])
    _fuzz(client, "/", ["page", "label"], examples=10)
    assert client.get("/classifications/status.json", {"ids": "9223372036854775808"}).status_code == 400


def test_fuzzed_api_list_parameters_never_give_a_500(client, fuzz_data):
    client.force_login(fuzz_data)
    names = ["owner", "label", "source", "status", "reviewed", "reviewed_label", "model_version", "created_after",
             "created_before", "min_confidence", "max_confidence", "page", "page_size"]
    statuses = _fuzz(client, "/api/v1/classifications/", names, examples=80)
    assert 400 in statuses and 200 in statuses
    _fuzz(client, "/api/v1/model-versions/", ["page", "page_size"])
    for value in ("9223372036854775808", str(2**80), "-9223372036854775809"):
        assert client.get("/api/v1/classifications/", {"model_version": value}).status_code == 400
        assert client.get("/api/v1/classifications/", {"page": value}).status_code in (200, 404)


ADMIN_CHANGELISTS = {
    "/admin/classification/classification/": [
        "predicted_label", "source", "status", "model_version__id__exact", "reviewed", "confidence", "suggested", "q",
        "o", "p", "all", "created_at__year", "created_at__month", "created_at__day", "_to_field", "e",
    ],
    "/admin/classification/reviewqueueitem/": ["predicted_label", "source", "model_version__id__exact", "suggested",
                                               "q", "o", "p", "created_at__year", "confidence__gte"],
    "/admin/classification/modelversion/": ["is_active__exact", "is_demo__exact", "architecture", "q", "o", "p",
                                            "created_at__year", "input_size", "id__exact"],
    "/admin/classification/trainingrun/": ["status__exact", "o", "p", "created_at__year", "epoch", "id"],
    "/admin/classification/workerprocess/": ["o", "p", "pid", "last_seen__year"],
}


@pytest.mark.parametrize("path", list(ADMIN_CHANGELISTS))
def test_fuzzed_admin_changelist_parameters_never_give_a_500(client, fuzz_data, path):
    client.force_login(fuzz_data)
    _fuzz(client, path, ADMIN_CHANGELISTS[path], examples=30)
    for year in ("99999999999", str(2**70), "0", "-1"):
        response = client.get(path, {"created_at__year": year, "created_at__month": "99"})
        assert response.status_code in (200, 302, 400), (year, response.status_code)
