"""Leases: each camera is read by exactly one capturer at a time.

A capturer holds a camera while its lease (``CameraState.holder`` and
``lease_expires_at``) is current, and renews it well before it expires. A
capturer that dies stops renewing; once the lease expires, any other capturer
takes the camera. Taking and renewing are single ``UPDATE`` statements with
the condition in their ``WHERE``, so two capturers racing for one camera
cannot both win, on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from classification.models import Camera, CameraState


def new_holder_id() -> str:
    """Names a capturer in the leases it holds (and in the admin): host, process, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(holder: str, candidates: list[int], limit: int, ttl: float) -> list[int]:
    """Take the leases of up to ``limit`` of ``candidates`` that nobody holds (or whose lease expired)."""
    now = timezone.now()
    for camera_id in candidates:
        CameraState.objects.get_or_create(camera_id=camera_id)
    taken = []
    free = Q(holder="") | Q(holder=holder) | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    for camera_id in candidates[:max(limit, 0)]:
        won = CameraState.objects.filter(free, camera_id=camera_id).update(
            holder=holder, lease_expires_at=now + timedelta(seconds=ttl)
        )
        if won:
            taken.append(camera_id)
    return taken


def renew(holder: str, camera_ids: list[int], ttl: float) -> set[int]:
    """Extend the leases ``holder`` still holds; returns those (a camera missing from it was lost)."""
    if not camera_ids:
        return set()
    held = CameraState.objects.filter(camera_id__in=camera_ids, holder=holder)
    held.update(lease_expires_at=timezone.now() + timedelta(seconds=ttl))
    return set(held.values_list("camera_id", flat=True))


def release(holder: str, camera_ids: list[int]) -> None:
    """Give cameras back at once (a clean stop): another capturer need not wait for the expiry."""
    CameraState.objects.filter(camera_id__in=camera_ids, holder=holder).update(
        holder="", lease_expires_at=None, status=CameraState.Status.OFFLINE, status_since=timezone.now()
    )


def unheld_enabled_cameras() -> list[int]:
    """Enabled cameras no live capturer holds, oldest first."""
    now = timezone.now()
    held = CameraState.objects.filter(lease_expires_at__gte=now).exclude(holder="").values("camera_id")
    return list(Camera.objects.filter(enabled=True).exclude(pk__in=held).order_by("pk").values_list("pk", flat=True))


def is_held(state: CameraState | None, now=None) -> bool:
    return bool(state and state.holder and state.lease_expires_at and state.lease_expires_at >= (now or timezone.now()))
