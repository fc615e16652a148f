"""The SageMaker backend against a local stand-in endpoint over HTTP.

The stand-in speaks SageMaker's runtime API (POST /endpoints/NAME/invocations)
and serves the tiny model the way a TensorFlow Serving container would, so
the worker's real boto3 client, request format and answer parsing are used.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ml.bundle import read_metadata
from ml.predictor import Predictor
from ml.sagemaker import EndpointError, EndpointPredictor, sagemaker_client
from tests.conftest import image_bytes


@pytest.fixture
def endpoint(tiny_bundle, monkeypatch):
    """A stand-in endpoint named "classifier" serving the tiny model; yields (url, requests seen)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    local = Predictor.from_bundle(tiny_bundle)
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization", "")))
            if self.path == "/endpoints/classifier/invocations":
                answer = {"predictions": local.predict_array(np.asarray(body["instances"], dtype=np.float32)).tolist()}
                status = 200
            elif self.path == "/endpoints/broken/invocations":
                answer, status = {"predictions": [[1.0]]}, 200  # the wrong shape
            else:
                answer, status = {"message": "Endpoint not found"}, 404
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen, local
    server.shutdown()


def test_endpoint_predictions_match_the_local_model(endpoint, tiny_bundle):
    url, seen, local = endpoint
    remote = EndpointPredictor("classifier", read_metadata(tiny_bundle), sagemaker_client(url, "us-east-1"))
    images = [image_bytes(color=(200, 10, 10)), image_bytes("PNG", size=(90, 30), color=(10, 10, 200))]

    predictions = remote.predict(images)

    assert [p.label for p in predictions] == [p.label for p in local.predict(images)]
    for mine, theirs in zip(predictions, local.predict(images)):
        assert mine.probabilities == pytest.approx(theirs.probabilities, abs=1e-6)
    assert remote.runtime_name == "sagemaker" and remote.warm_up() > 0
    assert seen[0][0] == "/endpoints/classifier/invocations"
    assert seen[0][1].startswith("AWS4-HMAC-SHA256")  # a real, signed SageMaker runtime request


def test_a_calibrated_version_is_calibrated_behind_an_endpoint_too(endpoint, tiny_bundle):
    """The endpoint answers the model's own softmax; the worker applies the version's temperature."""
    import dataclasses

    from ml.calibration import apply_temperature

    url, _, local = endpoint
    calibrated = dataclasses.replace(read_metadata(tiny_bundle), temperature=2.5)
    remote = EndpointPredictor("classifier", calibrated, sagemaker_client(url, "us-east-1"))
    images = [image_bytes(color=(200, 10, 10))]

    [prediction] = remote.predict(images)

    own = np.array([list(local.predict(images)[0].probabilities.values())])
    assert list(prediction.probabilities.values()) == pytest.approx(list(apply_temperature(own, 2.5)[0]), abs=1e-6)
    assert max(prediction.probabilities.values()) < own.max()  # a temperature above 1 softens


def test_endpoint_failures_are_clear(endpoint, tiny_bundle):
    url, _, _ = endpoint
    metadata = read_metadata(tiny_bundle)
    client = sagemaker_client(url, "us-east-1")
    with pytest.raises(EndpointError, match="answered shape"):
        EndpointPredictor("broken", metadata, client).predict([image_bytes()])
    with pytest.raises(EndpointError, match="missing failed"):
        EndpointPredictor("missing", metadata, client).predict([image_bytes()])


@pytest.fixture
def sagemaker_backend(settings, endpoint):
    url, seen, _ = endpoint
    settings.CLASSIFIER_INFERENCE_BACKEND = "sagemaker"
    settings.CLASSIFIER_SAGEMAKER_ENDPOINT = "classifier"
    settings.CLASSIFIER_SAGEMAKER_ENDPOINT_URL = url
    settings.CLASSIFIER_SAGEMAKER_REGION = "us-east-1"
    return seen


@pytest.mark.django_db(transaction=True)
def test_workers_classify_through_the_endpoint_when_configured(client, active_tiny_model, sagemaker_backend, celery_worker):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classification.serving import process_model
    from classification.models import WorkerProcess
    from tests.conftest import wait_until_finished

    response = client.post(
        "/", {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]}, HTTP_ACCEPT="application/json"
    )
    [row] = wait_until_finished([response.json()["accepted"][0]["id"]])

    assert row.status == "done" and row.model_version_id == active_tiny_model.pk
    assert set(row.probabilities) == set(active_tiny_model.class_names)
    assert sum(row.probabilities.values()) == pytest.approx(1.0)
    assert process_model.state.runtime == "sagemaker"
    assert WorkerProcess.objects.get(pid=__import__("os").getpid()).runtime == "sagemaker"
    assert len(sagemaker_backend) >= 2  # the warm-up and the image went to the endpoint
