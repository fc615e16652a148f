"""Cameras' health as the capture service sees it: online, offline, last error, last frame.

Written by a camera's capture thread only, read by the admin, the API and the
dashboard. Each change is also pushed to the camera's dashboard group. Error
texts come here already scrubbed of credentials (:mod:`.credentials`).
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from classification.cameras.leases import is_held
from classification.models import Camera, CameraState
from classification.serving.notifications import push_to_group

STATUS_EVENT = "camera.status"  # handled by the dashboard consumer's camera_status()
NO_CAPTURER = "no_capturer"
DISABLED = "disabled"


def connecting(camera: Camera) -> None:
    _set(camera, status=CameraState.Status.CONNECTING)


def online(camera: Camera) -> None:
    _set(camera, status=CameraState.Status.ONLINE, failures=0)


def offline(camera: Camera, error: str, failures: int) -> None:
    now = timezone.now()
    _set(camera, status=CameraState.Status.OFFLINE, last_error=error[:2000], last_error_at=now, failures=failures)


def frame_taken(camera: Camera) -> None:
    CameraState.objects.filter(camera=camera).update(last_frame_at=timezone.now(), frames_taken=F("frames_taken") + 1)
    _push(camera)


def _set(camera: Camera, *, status: str, **fields) -> None:
    now = timezone.now()
    rows = CameraState.objects.filter(camera=camera)
    rows.exclude(status=status).update(status_since=now)
    rows.update(status=status, **fields)
    _push(camera)


def _push(camera: Camera) -> None:
    state = CameraState.objects.filter(camera=camera).first()
    push_to_group(camera.group, {"type": STATUS_EVENT, "camera": str(camera.public_id), "health": health_payload(camera, state)})


def effective_status(camera: Camera, state: CameraState | None, now=None) -> str:
    """What a person should read: disabled, nobody capturing (no live lease), or the capturer's word."""
    if not camera.enabled:
        return DISABLED
    if not is_held(state, now):
        return NO_CAPTURER
    return state.status


def health_payload(camera: Camera, state: CameraState | None) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "status": effective_status(camera, state),
        "status_since": iso(state and state.status_since),
        "last_error": (state.last_error or None) if state else None,
        "last_error_at": iso(state and state.last_error_at),
        "last_frame_at": iso(state and state.last_frame_at),
        "failures": state.failures if state else 0,
        "frames_taken": state.frames_taken if state else 0,
    }
