"""Every hostile or odd input, through the form, the API and the webcam socket.

Each is classified, or refused with a 4xx and a message; never a 5xx, never a
crashed worker, never a stored file without its row.
"""

from __future__ import annotations

import math

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from classification.models import Classification
from classifier_site.asgi import application
from tests import hostile_inputs
from tests.conftest import stored_files, wait_until_finished

pytestmark = pytest.mark.django_db(transaction=True)

CASES = hostile_inputs.cases()
# Sockets answer with a code, not an HTTP status: the status the same refusal gets over HTTP.
SOCKET_STATUS = {"file_too_large": 413, "too_many_pixels": 413, "unsupported_type": 415}


@pytest.fixture
def limits(settings):
    settings.CLASSIFIER = {
        **settings.CLASSIFIER,
        "MAX_UPLOAD_BYTES": hostile_inputs.LIMIT_BYTES,
        "WEBCAM_MAX_FRAME_BYTES": hostile_inputs.LIMIT_BYTES,
        "MAX_FILES_PER_REQUEST": 50,
        "UPLOAD_RATE": "1000/min",
        "WEBCAM_FRAME_RATE": "1000/min",
        "WEBCAM_MAX_IN_FLIGHT": 100,
    }


def _as_upload(case):
    return SimpleUploadedFile(case.name, case.data, case.content_type)


def _check_outcomes(outcomes: dict[str, dict], cases) -> list[int]:
    """Assert each case's outcome; return the ids of accepted ones."""
    accepted = []
    for case in cases:
        outcome = outcomes[case.kind]
        assert outcome["status"] < 500, (case.kind, outcome)
        if case.status is None:
            assert outcome["status"] in (200, 202), (case.kind, outcome)
            accepted.append(outcome["id"])
        else:
            assert outcome["status"] == case.status, (case.kind, outcome)
            assert outcome["code"] == case.code and outcome["message"], (case.kind, outcome)
    return accepted


def _assert_classified_and_nothing_orphaned(ids: list[int], before: set[str]):
    rows = wait_until_finished(ids, timeout=120)
    for row in rows:
        assert row.status == "done", (row.original_name, row.error_message)
        assert math.isclose(sum(row.probabilities.values()), 1.0, abs_tol=1e-6)
        assert "/" not in row.original_name and "\\" not in row.original_name
        assert all(ch.isprintable() for ch in row.original_name)
    assert Classification.objects.count() == len(ids)
    stored = {r.image.name for r in rows} | {r.thumbnail.name for r in rows}
    assert stored_files() - before == stored  # nothing stored for a refused input


def test_corpus_has_at_least_25_kinds():
    assert len({case.kind for case in CASES}) >= 25


def test_through_the_upload_form(client, limits, active_tiny_model, celery_worker):
    before = stored_files()
    outcomes = {}
    for case in CASES:
        response = client.post("/", {"files": [_as_upload(case)]}, HTTP_ACCEPT="application/json")
        body = response.json()
        if body["accepted"]:
            outcomes[case.kind] = {"status": response.status_code, "id": body["accepted"][0]["id"]}
        else:
            rejected = body["rejected"][0]
            outcomes[case.kind] = {"status": response.status_code, "code": rejected["code"], "message": rejected["message"]}
    _assert_classified_and_nothing_orphaned(_check_outcomes(outcomes, CASES), before)


def test_through_the_api(limits, active_tiny_model, celery_worker, django_user_model):
    api = APIClient()
    api.force_authenticate(django_user_model.objects.create_user("api-user"))
    before = stored_files()
    outcomes = {}
    for case in CASES:
        response = api.post("/api/v1/classifications/", {"files": [_as_upload(case)]}, format="multipart")
        body = response.json()
        if response.status_code in (200, 202):
            outcomes[case.kind] = {"status": response.status_code, "id": body["accepted"][0]["id"]}
        else:
            error = body["error"]
            outcomes[case.kind] = {"status": response.status_code, "code": error["code"], "message": error["message"]}
    _assert_classified_and_nothing_orphaned(_check_outcomes(outcomes, CASES), before)


def test_through_the_webcam_socket(limits, active_tiny_model, celery_worker):
    # Frames have no name or content type: the cases that differ only by those are the same bytes here.
    frame_cases = [case for case in CASES if "name" not in case.kind and case.kind != "wrong content type"]

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/webcam/", headers=[(b"origin", b"http://localhost")])
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await communicator.receive_json_from()
        outcomes = {}
        for case in frame_cases:
            # send_input, not send_to: an empty binary frame is legal and send_to refuses it
            await communicator.send_input({"type": "websocket.receive", "bytes": case.data})
            while True:  # results of earlier frames may arrive in between
                reply = await communicator.receive_json_from(timeout=30)
                if reply["type"] in ("accepted", "rejected"):
                    break
            if reply["type"] == "accepted":
                outcomes[case.kind] = {"status": 202, "id": reply["classification"]["id"]}
            else:
                # The socket checks its own frame limit first, under its own code.
                code = "file_too_large" if reply["code"] == "frame_too_large" else reply["code"]
                outcomes[case.kind] = {"status": SOCKET_STATUS.get(code, 400), "code": code, "message": reply["message"]}
        await communicator.disconnect()
        return outcomes

    before = stored_files()
    outcomes = async_to_sync(scenario)()
    _assert_classified_and_nothing_orphaned(_check_outcomes(outcomes, frame_cases), before)
