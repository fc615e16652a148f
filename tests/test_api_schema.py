"""Schemathesis against the live OpenAPI schema: no 5xx, and every answer matches the schema.

The schema is loaded from /api/schema/ of the real WSGI application, and the
generated requests go through that application, so this checks the served
schema and the code together. Requests are authenticated as a superuser so
writes (uploads, activation) and ``owner=all`` are exercised too; a few known
rows of that user make some of the generated reads find something.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from classification.accounts import tokens
from classification.results import selectors
from classification.models import Classification
from tests.conftest import image_bytes
from tests.test_api import fresh_throttle_cache, make_row, make_version  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 25  # per operation and mode: the whole module runs in a few seconds

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """Django's real WSGI handler, inside the test's transaction.

    Like Django's test client, keep the per-request connection cleanup from
    closing the connection that holds the test transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzer(django_user_model):
    return django_user_model.objects.create_superuser("fuzzer")


@pytest.fixture
def staff_headers(fuzzer) -> dict:
    return {"Authorization": f"Token {tokens.create_token(fuzzer, 'fuzzer')[1]}"}


@pytest.fixture
def known_rows(fuzzer):
    version = make_version("fuzz-model", is_active=True)
    done = make_row(
        status="done",
        predicted_label="human",
        confidence=0.9,
        probabilities={"human": 0.9, "no_human": 0.1},
        model_version=version,
        submitted_by=fuzzer,
    )
    return {"version": version, "row": done, "queued": make_row(source="webcam", submitted_by=fuzzer)}


@pytest.fixture(autouse=True)
def no_real_waiting(monkeypatch):
    """No worker runs here: ``?wait`` polls once instead of sleeping up to 30 s per generated upload.

    With ``finish=True`` the rows are marked done first, so the 200 answer is checked too.
    """
    real = selectors.wait_until_finished
    state = {"finish": False}

    def wait_until_finished(ids, *, timeout, interval=0.1):
        if state["finish"]:
            Classification.objects.filter(pk__in=ids).update(
                status="done", predicted_label="human", confidence=0.75, probabilities={"human": 0.75}
            )
        return real(ids, timeout=0, interval=interval)

    monkeypatch.setattr(selectors, "wait_until_finished", wait_until_finished)
    return state


@pytest.fixture
def api_schema(wsgi_app, known_rows):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


OPERATIONS = [
    ("/api/v1/classifications/", "GET"),
    ("/api/v1/classifications/", "POST"),
    ("/api/v1/classifications/{id}/", "GET"),
    ("/api/v1/classifications/{id}/", "DELETE"),
    ("/api/v1/classifications/{id}/suggestion/", "POST"),
    ("/api/v1/model-versions/", "GET"),
    ("/api/v1/model-versions/{id}/", "GET"),
    ("/api/v1/model-versions/{id}/activate/", "POST"),
    ("/api/v1/cameras/", "GET"),
    ("/api/v1/cameras/", "POST"),
    ("/api/v1/cameras/{id}/", "GET"),
    ("/api/v1/cameras/{id}/", "PATCH"),
    ("/api/v1/cameras/{id}/", "DELETE"),
    ("/api/v1/cameras/{id}/events/", "GET"),
]


def test_every_operation_is_fuzzed(api_schema):
    served = {(result.ok().path, result.ok().method.upper()) for result in api_schema.get_all_operations()}
    assert served == set(OPERATIONS)


# Schemathesis's own pytest integration (``schemathesis.pytest.from_fixture``) does not
# run under pytest 9, so each operation's strategy drives Hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_matches_its_schema(api_schema, staff_headers, path, method, mode):
    seen: list[int] = []

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        seen.append(case.call_and_validate(headers=staff_headers, checks=CHECKS).status_code)

    check()
    assert len(seen) >= 3, seen  # it really sent requests


def test_known_objects_and_a_real_upload_match_the_schema(api_schema, known_rows, staff_headers, no_real_waiting):
    """The answers random data rarely reaches: 200s for existing rows, 202/200 for a real image."""
    row, version = known_rows["row"], known_rows["version"]
    cases = [
        api_schema["/api/v1/classifications/{id}/"]["GET"].Case(path_parameters={"id": str(row.public_id)}),
        api_schema["/api/v1/classifications/"]["GET"].Case(query={"status": "done", "page_size": 1}),
        api_schema["/api/v1/classifications/"]["GET"].Case(query={"owner": "all"}),
        api_schema["/api/v1/classifications/{id}/suggestion/"]["POST"].Case(
            path_parameters={"id": str(row.public_id)}, body={"label": "no_human"}, media_type="application/json"
        ),
        api_schema["/api/v1/model-versions/{id}/"]["GET"].Case(path_parameters={"id": version.pk}),
        api_schema["/api/v1/model-versions/"]["GET"].Case(),
        api_schema["/api/v1/model-versions/{id}/activate/"]["POST"].Case(path_parameters={"id": version.pk}),
        api_schema["/api/v1/classifications/"]["POST"].Case(
            body={"files": [image_bytes(), b"not an image"]}, media_type="multipart/form-data"
        ),
        api_schema["/api/v1/classifications/"]["POST"].Case(
            query={"wait": 5}, body={"files": [image_bytes("PNG")]}, media_type="multipart/form-data"
        ),
        api_schema["/api/v1/classifications/{id}/"]["DELETE"].Case(path_parameters={"id": str(row.public_id)}),
    ]
    statuses = []
    for case in cases:
        no_real_waiting["finish"] = case.query == {"wait": 5}
        response = case.call_and_validate(headers=staff_headers, checks=CHECKS)
        statuses.append(response.status_code)
        if case.method == "POST" and case.path.endswith("/classifications/") and not case.query:
            body = response.json()
            assert len(body["accepted"]) == 1 and body["rejected"][0]["code"] == "unsupported_type"
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 202, 200, 204]


@pytest.mark.slow
def test_first_schema_requests_at_once_in_a_new_web_process_are_all_answered(transactional_db, tmp_path):
    """drf-spectacular's first build in a process is not thread-safe: at once, three of four answered 500."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.test_webcam_browser import serve_web

    with serve_web("http", tmp_path) as url, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: requests.get(url + "/api/schema/?format=json", timeout=60).status_code,
                                 range(4)))
    assert statuses == [200] * 4, (tmp_path / "web.log").read_text()[-3000:]
