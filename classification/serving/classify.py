"""Classifying stored images: the worker's side of the workflow.

The classify task calls :func:`classify_stored_images` with a micro-batch of
row ids (its own and its companions', :mod:`classification.serving.batching`),
and the loaded model of this process (:mod:`classification.serving.process_model`).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from django.utils import timezone

from classification.models import Classification, ModelVersion
from classification.serving.notifications import notify_finished_many
from ml.predictor import Prediction, Predictor

logger = logging.getLogger(__name__)


ModelLoader = Callable[[], tuple[Predictor, ModelVersion]]


def classify_stored_images(classification_ids: Sequence[int], load_model: ModelLoader) -> list[Classification]:
    """Classify stored images together, in one model call; safe to run twice for the same ids.

    The worker's micro-batch: one call per batch costs little more than one
    per image, so queued images are classified together (see
    ``classification.serving.batching``). Each row still stands alone:
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
