"""The S3 configuration, in one place for the settings, the tests and the code that reaches S3 directly."""

from __future__ import annotations

from botocore.config import Config


def s3_storage(
    bucket: str,
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    location: str = "",
    url_expire_seconds: int = 300,
    connect_timeout: float = 5,
    max_attempts: int = 2,
) -> dict:
    """A ``STORAGES`` entry for a private bucket whose URLs are all presigned (SigV4)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "region_name": region_name,
            "endpoint_url": endpoint_url,
            "location": location,
            "default_acl": None,  # private bucket: objects inherit it
            "querystring_auth": True,  # every URL is presigned
            "querystring_expire": url_expire_seconds,
            "file_overwrite": False,
            # Our own client config replaces django-storages' one, so it names SigV4 itself.
            # Short timeouts: when S3 is down an upload answers 503 instead of hanging.
            "client_config": Config(
                signature_version="s3v4",
                connect_timeout=connect_timeout,
                read_timeout=30,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        },
    }


def s3_client():
    """A boto3 S3 client for the configured endpoint and region (training data, exports).

    The one place the house builds one from its settings; the client itself is
    :func:`ml.s3sync.s3_client`, on the standard AWS credential chain.
    """
    from django.conf import settings

    from ml import s3sync

    return s3sync.s3_client(endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name=settings.AWS_S3_REGION_NAME)
