"""Accepting images: validate, store, record and queue each one.

Views, the API and websocket consumers call :func:`submit_image` (or
:func:`submit_uploads` for a request's files); the worker classifies what they
queued (:mod:`classification.serving.classify`). The queue carries only the
row id, through :mod:`classification.queueing`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.db import transaction

from classification.intake.validation import ImageRejected, ValidatedImage, too_large, upload_limits, validate_image
from classification.models import Classification
from classification.serving.dispatch import enqueue

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255


class ServiceUnavailable(RuntimeError):
    """Storage or queue is down: the client should retry later (HTTP 503)."""


def clean_original_name(name: str | None) -> str:
    """Keep only the last path component of a client-supplied file name, for display."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_NAME_LENGTH]


def submit_image(
    *,
    data: bytes,
    original_name: str = "",
    source: str = Classification.Source.UPLOAD,
    user=None,
    owner_key: str = "",
    notify_group: str = "",
    stream: str = "",
) -> Classification:
    """Validate, store and queue one image; raise ``ImageRejected`` for bad input.

    It belongs to ``user`` when signed in, else to the anonymous session
    holding ``owner_key`` (:mod:`classification.privacy.owners`). Nothing is
    stored for a rejected image, and a storage failure removes whatever part
    was already written, so no row ever points at a missing file.
    ``stream`` names the watched source of a frame (``classification.events``).
    """
    validated = validate_image(data)
    classification = _store(validated, clean_original_name(original_name), source, user, owner_key, notify_group,
                            stream)
    transaction.on_commit(lambda: enqueue(classification.pk))
    return classification


def submit_upload(
    upload, *, original_name: str = "", source: str = Classification.Source.UPLOAD, user=None, owner_key: str = ""
) -> Classification:
    """Submit a Django ``UploadedFile`` without reading more than the byte limit."""
    if upload.size is not None and upload.size > upload_limits()["max_bytes"]:
        raise too_large(upload.size)
    return submit_image(
        data=upload.read(), original_name=original_name or upload.name, source=source, user=user, owner_key=owner_key
    )


@dataclass(frozen=True)
class Rejection:
    """Why one file of a request was not accepted."""

    name: str
    code: str
    message: str
    status: int

    def as_dict(self) -> dict:
        """The same entry in the upload form's JSON and in the API's error body."""
        return {"name": self.name, "code": self.code, "message": self.message, "status": self.status}


@dataclass
class SubmissionResult:
    accepted: list[Classification] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def status(self) -> int:
        """202 when anything was accepted, else the rejections' shared status (400 if mixed)."""
        if self.accepted:
            return 202
        statuses = {rejection.status for rejection in self.rejected}
        return statuses.pop() if len(statuses) == 1 else 400


def submit_uploads(files, *, source: str, user=None, owner_key: str = "") -> SubmissionResult:
    """Submit each uploaded file on its own: one bad file never costs the good ones."""
    limit = upload_limits()["max_files"]
    if not files:
        return SubmissionResult(rejected=[Rejection("", "missing_file", "Choose at least one image to upload.", 400)])
    if len(files) > limit:
        message = f"{len(files)} files sent; at most {limit} can be uploaded at once."
        return SubmissionResult(rejected=[Rejection("", "too_many_files", message, 400)])
    result = SubmissionResult()
    for upload in files:
        name = clean_original_name(upload.name)
        try:
            result.accepted.append(
                submit_upload(upload, original_name=name, source=source, user=user, owner_key=owner_key)
            )
        except ImageRejected as exc:
            result.rejected.append(Rejection(name, exc.code, exc.message, exc.status))
        except ServiceUnavailable as exc:
            result.rejected.append(Rejection(name, "unavailable", str(exc), 503))
    return result


def _store(
    validated: ValidatedImage, original_name: str, source: str, user, owner_key: str, notify_group: str,
    stream: str = "",
) -> Classification:
    signed_in = user is not None and user.is_authenticated
    classification = Classification(
        source=source,
        notify_group=notify_group,
        stream=stream,
        submitted_by=user if signed_in else None,
        owner_key="" if signed_in else owner_key,
        original_name=original_name,
        content_type=validated.content_type,
        byte_size=len(validated.data),
        width=validated.width,
        height=validated.height,
        content_hash=validated.sha256,
    )
    try:
        # The worker makes the thumbnail from the pixels it decodes anyway (classification.serving.classify).
        classification.image.save(f"image.{validated.extension}", ContentFile(validated.data), save=False)
        classification.save()  # one INSERT in autocommit; a transaction around it only added BEGIN and COMMIT
    except Exception as exc:
        _delete_files(classification)
        logger.exception("Could not store an uploaded image")
        raise ServiceUnavailable("The image could not be stored right now; please try again.") from exc
    return classification


def _delete_files(classification: Classification) -> None:
    for stored in (classification.image, classification.thumbnail):
        if stored.name:
            try:
                stored.storage.delete(stored.name)
            except Exception:
                logger.warning("Could not remove %s after a failed upload", stored.name, exc_info=True)
