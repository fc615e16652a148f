"""Classifying through a SageMaker endpoint instead of a local model.

The older system created an endpoint and never used it. With this backend a
worker prepares images exactly as for a local model (``ml.preprocessing``),
sends each batch to the endpoint in TensorFlow Serving's JSON format (what
SageMaker's TensorFlow containers speak: ``{"instances": ...}`` in,
``{"predictions": ...}`` out) and gets the same :class:`~ml.predictor.Prediction`
objects back, so nothing downstream can tell the difference.
"""

from __future__ import annotations

import json

import numpy as np

from ml.bundle import BundleError, BundleMetadata
from ml.predictor import Predictor
from ml.runtime_choice import Selection

SAGEMAKER = "sagemaker"


class EndpointError(RuntimeError):
    """The endpoint failed, or answered something that is not one row of scores per image."""


def sagemaker_client(endpoint_url: str | None = None, region_name: str | None = None):
    """A ``sagemaker-runtime`` client on the standard AWS credential chain."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint_url or None,
        region_name=region_name or None,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    )


class SageMakerRuntime:
    """A runtime (prepared batch in, one score row per image out) that calls an endpoint."""

    name = SAGEMAKER

    def __init__(self, endpoint_name: str, classes: int, client=None):
        if not endpoint_name:
            raise BundleError("The SageMaker backend needs an endpoint name (CLASSIFIER_SAGEMAKER_ENDPOINT).")
        self.endpoint_name = endpoint_name
        self.classes = classes
        self.client = client or sagemaker_client()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps({"instances": np.asarray(batch).tolist()}),
            )
            answer = json.loads(response["Body"].read())
        except Exception as exc:  # botocore and json raise many types; all mean "no usable answer"
            raise EndpointError(f"SageMaker endpoint {self.endpoint_name} failed: {exc}") from exc
        rows = np.asarray(answer.get("predictions") if isinstance(answer, dict) else None, dtype=np.float64)
        if rows.shape != (len(batch), self.classes):
            raise EndpointError(
                f"SageMaker endpoint {self.endpoint_name} answered shape {rows.shape}, "
                f"expected ({len(batch)}, {self.classes})."
            )
        return rows


class EndpointPredictor(Predictor):
    """A :class:`~ml.predictor.Predictor` whose model runs behind a SageMaker endpoint.

    Preparing images, normalising scores and building predictions are the
    local predictor's; only the forward pass is remote.
    """

    def __init__(self, endpoint_name: str, metadata: BundleMetadata, client=None):
        runtime = SageMakerRuntime(endpoint_name, len(metadata.class_names), client)
        super().__init__(None, metadata, selection=Selection(runtime))
