"""Cameras' settings: checking them, keeping credentials apart, and who may see which camera."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db.models import QuerySet

from classification.cameras.credentials import split_credentials
from classification.models import Camera

_SCHEMES = {
    Camera.Kind.RTSP: ("rtsp", "rtsps"),
    Camera.Kind.MJPEG: ("http", "https"),
    Camera.Kind.SNAPSHOT: ("http", "https"),
}


class CameraSettingsError(ValueError):
    """A camera's settings that cannot work; ``field`` names the one to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class Connection:
    """Where and how to reach a camera, credentials apart from the URL."""

    url: str
    username: str
    password: str


def normalized_connection(kind: str, url: str, username: str = "", password: str = "") -> Connection:
    """Check ``url`` for ``kind`` and move credentials typed into it to their own fields.

    Credentials in the URL win over the fields (they were typed last, in the
    one place people paste a camera's address).
    """
    clean, url_username, url_password = split_credentials(url)
    if kind == Camera.Kind.DEVICE:
        if not clean.startswith("/dev/"):
            raise CameraSettingsError("url", "A local video device is a path such as /dev/video0.")
    else:
        parts = urlsplit(clean)
        allowed = _SCHEMES.get(kind, ())
        if parts.scheme.lower() not in allowed or not parts.hostname:
            raise CameraSettingsError(
                "url", f"A {Camera.Kind(kind).label} needs a {' or '.join(s + '://' for s in allowed)} URL with a host."
            )
    if url_username or url_password:
        username, password = url_username, url_password
    return Connection(clean, username, password)


def visible_cameras(user) -> QuerySet[Camera]:
    """The cameras ``user`` may see and manage: their own, or every camera for staff."""
    cameras = Camera.objects.select_related("state", "owner")
    if user is None or not user.is_authenticated:
        return cameras.none()
    return cameras if user.is_staff else cameras.filter(owner=user)
