"""The classification workflow: accept an image, queue it, classify it.

Views, API and websocket consumers call :func:`submit_image`; the Celery task
calls :func:`classify_stored_images` (a micro-batch of ids). Neither knows how
the other side works: the queue carries only the row id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from classification.models import Classification, ModelVersion
from classification.notifications import notify_finished, notify_finished_many
from classification.validation import ImageRejected, ValidatedImage, too_large, upload_limits, validate_image
from ml.predictor import Prediction, Predictor

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
    notify_group: str = "",
) -> Classification:
    """Validate, store and queue one image; raise ``ImageRejected`` for bad input.

    Nothing is stored for a rejected image, and a storage failure removes
    whatever part was already written, so no row ever points at a missing file.
    """
    validated = validate_image(data)
    classification = _store(validated, clean_original_name(original_name), source, user, notify_group)
    transaction.on_commit(lambda: enqueue(classification.pk))
    return classification


def submit_upload(
    upload, *, original_name: str = "", source: str = Classification.Source.UPLOAD, user=None
) -> Classification:
    """Submit a Django ``UploadedFile`` without reading more than the byte limit."""
    if upload.size is not None and upload.size > upload_limits()["max_bytes"]:
        raise too_large(upload.size)
    return submit_image(data=upload.read(), original_name=original_name or upload.name, source=source, user=user)


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


def submit_uploads(files, *, source: str, user=None) -> SubmissionResult:
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
            result.accepted.append(submit_upload(upload, original_name=name, source=source, user=user))
        except ImageRejected as exc:
            result.rejected.append(Rejection(name, exc.code, exc.message, exc.status))
        except ServiceUnavailable as exc:
            result.rejected.append(Rejection(name, "unavailable", str(exc), 503))
    return result


def _store(validated: ValidatedImage, original_name: str, source: str, user, notify_group: str) -> Classification:
    classification = Classification(
        source=source,
        notify_group=notify_group,
        submitted_by=user if user is not None and user.is_authenticated else None,
        original_name=original_name,
        content_type=validated.content_type,
        byte_size=len(validated.data),
        width=validated.width,
        height=validated.height,
        content_hash=validated.sha256,
    )
    try:
        classification.image.save(f"image.{validated.extension}", ContentFile(validated.data), save=False)
        classification.thumbnail.save("thumbnail.jpg", ContentFile(validated.thumbnail_jpeg), save=False)
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


def enqueue(classification_id: int) -> None:
    from classification.tasks import classify_image

    try:
        classify_image.delay(classification_id)
    except Exception:
        logger.exception("Could not queue classification %s", classification_id)
        failed = Classification.objects.filter(pk=classification_id, status=Classification.Status.QUEUED).update(
            status=Classification.Status.FAILED,
            error_message="The classification queue is unavailable; please upload again.",
            finished_at=timezone.now(),
        )
        if failed:
            notify_finished(Classification.objects.get(pk=classification_id))


ModelLoader = Callable[[], tuple[Predictor, ModelVersion]]


def classify_stored_images(classification_ids: Sequence[int], load_model: ModelLoader) -> list[Classification]:
    """Classify stored images together, in one model call; safe to run twice for the same ids.

    The worker's micro-batch: one call per batch costs little more than one
    per image, so queued images are classified together (see
    ``classification.worker.take_queued``). Each row still stands alone:
    rows already done are left as they are (a redelivered task does no harm),
    a missing row is skipped, and an image that cannot be read fails only its
    own row. ``load_model`` returns the worker's loaded predictor and its
    model version. Returns the rows that exist, in the order of the ids.
    """
    ids = list(dict.fromkeys(classification_ids))
    found = _rows_by_id(ids)
    for missing in (pk for pk in ids if pk not in found):
        logger.warning("Classification %s no longer exists; nothing to do", missing)
    rows = [found[pk] for pk in ids if pk in found]
    pending = [row for row in rows if row.status != Classification.Status.DONE]
    if not pending:
        return rows

    started = timezone.now()
    _mark_running([row.pk for row in pending], started)
    try:
        predictor, version = load_model()
        outcomes = _predict_each(predictor, pending)
    except Exception as exc:
        logger.exception("Classifications %s failed", ", ".join(str(row.pk) for row in pending))
        version, outcomes = None, [exc] * len(pending)

    finished = timezone.now()
    for row, outcome in zip(pending, outcomes):
        row.started_at, row.finished_at = started, finished
        if isinstance(outcome, Exception):
            row.status = Classification.Status.FAILED
            row.error_message = str(outcome) or type(outcome).__name__
            continue
        row.status = Classification.Status.DONE
        row.predicted_label = outcome.label
        row.confidence = outcome.confidence
        row.probabilities = outcome.probabilities
        row.model_version = version
        row.error_message = ""
    if len(pending) == 1:
        pending[0].save(update_fields=_RESULT_FIELDS)  # one UPDATE; bulk_update adds a transaction around it
    else:
        Classification.objects.bulk_update(pending, _RESULT_FIELDS)
    notify_finished_many(pending)
    return rows


def warm_up_classification_queries() -> None:
    """Run the queries of :func:`classify_stored_images` once, changing nothing.

    A new worker process's first classification otherwise pays for Django's
    first use of the model (field caches, converting a row into an instance)
    and for the database's catalog caches, which PostgreSQL fills per
    connection (the pooled connection that runs these serves the first task).
    The newest row is read, if there is one; the update matches no row (ids start at 1).
    """
    newest = list(Classification.objects.order_by("-pk").values_list("pk", flat=True)[:1])
    _rows_by_id(newest or [0])
    _mark_running([0], timezone.now())


def _rows_by_id(ids: Sequence[int]) -> dict[int, Classification]:
    return Classification.objects.select_related("model_version").in_bulk(ids)


def _mark_running(ids: Sequence[int], started) -> None:
    Classification.objects.filter(pk__in=ids).update(status=Classification.Status.RUNNING, started_at=started)


# Only what classifying writes: a review saved meanwhile is kept.
_RESULT_FIELDS = [
    "status", "predicted_label", "confidence", "probabilities", "model_version", "error_message",
    "started_at", "finished_at",
]


def _predict_each(predictor: Predictor, rows: list[Classification]) -> list[Prediction | Exception]:
    """Each row's prediction, or the error that stopped it (unreadable file, undecodable image)."""
    images: list[bytes | Exception] = []
    for row in rows:
        try:
            with row.image.open("rb") as fh:
                images.append(fh.read())
        except Exception as exc:  # storage backends raise many types for a missing file
            logger.exception("Classification %s: the stored image cannot be read", row.pk)
            images.append(exc)
    readable = [image for image in images if not isinstance(image, Exception)]
    predictions = iter(predictor.predict_each(readable))
    outcomes = [image if isinstance(image, Exception) else next(predictions) for image in images]
    for row, outcome in zip(rows, outcomes):
        if isinstance(outcome, Exception):
            logger.warning("Classification %s failed: %s", row.pk, outcome)
    return outcomes
