"""Classifying stored images: the worker's side of the workflow.

The classify task calls :func:`classify_stored_images` with a micro-batch of
row ids (its own and its companions', :mod:`classification.serving.batching`),
and the loaded model of this process (:mod:`classification.serving.process_model`).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connections, transaction
from django.db.models import Q
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from classification.models import Classification, ModelVersion
from classification.serving import heartbeats
from classification.serving.notifications import notify_finished_many
from ml.predictor import Prediction, Predictor
from ml.preprocessing import open_image, thumbnail_jpeg

logger = logging.getLogger(__name__)


ModelLoader = Callable[[], tuple[Predictor, ModelVersion]]


def classify_stored_images(classification_ids: Sequence[int], load_model: ModelLoader) -> list[Classification]:
    """Classify stored images together, in one model call; safe to run twice for the same ids.

    The worker's micro-batch: one call per batch costs little more than one
    per image, so queued images are classified together (see
    ``classification.serving.batching``). Each row still stands alone:
    only rows this process claims are classified (queued ones, and running
    ones whose process died: :func:`_claim`), so rows already finished or held
    by another live process are left as they are (a redelivered task does no
    harm), a missing row is skipped, and an image that cannot be read fails only its
    own row. ``load_model`` returns the worker's loaded predictor and its
    model version. Returns the rows that exist, in the order of the ids.
    """
    ids = list(dict.fromkeys(classification_ids))
    found = _rows_by_id(ids)
    for missing in (pk for pk in ids if pk not in found):
        logger.warning("Classification %s no longer exists; nothing to do", missing)
    rows = [found[pk] for pk in ids if pk in found]
    waiting = [row for row in rows if row.status in _CLAIMABLE]
    if not waiting:
        return rows

    started = timezone.now()
    claimed = _claim(waiting, started)
    pending = [row for row in rows if row.pk in claimed]
    if not pending:
        return rows
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
    saved = _save_held(pending, finished)
    _delete_new_thumbnails(row for row in pending if row not in saved)
    notify_finished_many(saved)
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
    _claim([Classification(pk=0, status=Classification.Status.QUEUED)], timezone.now())


def _rows_by_id(ids: Sequence[int]) -> dict[int, Classification]:
    # No join with the model version: the rows a task classifies are queued, without one, and get the
    # version it serves; joining cost the worker a wider query to build and read on every task.
    return Classification.objects.in_bulk(ids)


# Rows a task may claim: waiting ones, and running ones whose process died (checked in _claim).
_CLAIMABLE = (Classification.Status.QUEUED, Classification.Status.RUNNING)


def _claim(rows: Sequence[Classification], started) -> set[int]:
    """Mark the rows running as this process's; the ids it got (CONTRACT: the claim).

    One conditional UPDATE: a row is taken when it is queued, or running under
    a process that no longer runs (its claim is void). A row another live
    process holds, or one already finished, is left alone, so two deliveries
    of the same row never classify it twice at once.

    The holders are those of the rows as just read: the UPDATE takes a running
    row only under that same holder and start time, so a row claimed or
    finished since is left alone as well. It names the rows it took
    (``RETURNING``): one query, where reading the holders, updating and reading
    back what was taken cost three (0.5 ms of the worker's CPU a batch).
    """
    if not rows:
        return set()
    me = heartbeats.worker_id()
    # A claim of this process's id made before it started is a predecessor's (a restarted container reuses pids).
    free = Q(status=Classification.Status.QUEUED)
    for holder, claimed_at in {(row.worker, row.started_at) for row in rows if row.status == Classification.Status.RUNNING}:
        if not heartbeats.is_alive(holder, claimed_at):
            free |= Q(status=Classification.Status.RUNNING, worker=holder, started_at=claimed_at)
    claimable = Classification.objects.filter(Q(pk__in=[row.pk for row in rows]) & free)
    return _update_returning_ids(claimable, status=Classification.Status.RUNNING, worker=me, started_at=started)


def _update_returning_ids(queryset, **values) -> set[int]:
    """``queryset.update(**values)`` in one statement that also returns the ids of the rows it changed.

    Django's ``update()`` returns only a count; its own SQL, with ``RETURNING``
    added (PostgreSQL, and SQLite since 3.35). The conditions stay on the
    updated table itself, so PostgreSQL checks them again on a row another
    transaction changed meanwhile: two claims never both take one row.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    connection = connections[queryset.db]
    pk = queryset.model._meta.pk
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {quote(queryset.model._meta.db_table)}.{quote(pk.column)}", params)
        return {row[0] for row in cursor.fetchall()}


def _save_held(rows: list[Classification], finished) -> list[Classification]:
    """Save the results of the rows this process still holds; returns those saved.

    Conditional on the claim (running, and this process's): a row the sweeper
    took over meanwhile (it judged this process dead) is left to its new holder.
    """
    held = Classification.objects.filter(status=Classification.Status.RUNNING, worker=heartbeats.worker_id())
    if len(rows) == 1:  # one UPDATE, no transaction around it
        count = _update(held, rows[0])
    else:
        # An UPDATE a row, in one transaction: bulk_update's CASE expressions, one per field over every
        # row, cost the worker 1.3 ms of CPU per image against 0.5 (a batch of 5).
        with transaction.atomic():
            count = sum(_update(held, row) for row in rows)
    if count == len(rows):
        return rows
    mine = set(
        Classification.objects.filter(pk__in=[row.pk for row in rows], worker=heartbeats.worker_id(),
                                      finished_at=finished).values_list("pk", flat=True)
    )
    logger.warning("%d classification(s) were taken over before their results were saved", len(rows) - len(mine))
    return [row for row in rows if row.pk in mine]


def _update(held, row: Classification) -> int:
    return held.filter(pk=row.pk).update(**{name: getattr(row, name) for name in _RESULT_FIELDS})


# Only what classifying writes: a review saved meanwhile is kept.
_RESULT_FIELDS = [
    "status", "predicted_label", "confidence", "probabilities", "model_version", "error_message",
    "started_at", "finished_at", "thumbnail",
]


def _predict_each(predictor: Predictor, rows: list[Classification]) -> list[Prediction | Exception]:
    """Each row's prediction, or the error that stopped it (unreadable file, undecodable image).

    Each image is decoded once, as the model's preprocessing decodes it (a
    JPEG at the smallest scale still covering the model's input), and a row
    without a thumbnail gets one from those pixels: the web process no longer
    makes it, and its pages show the image itself until then.
    """
    size = predictor.metadata.input_size
    images: list = []
    for row in rows:
        try:
            with row.image.open("rb") as fh:
                data = fh.read()
        except Exception as exc:  # storage backends raise many types for a missing file
            logger.exception("Classification %s: the stored image cannot be read", row.pk)
            images.append(exc)
            continue
        try:
            images.append(open_image(data, reduce_to=size))
        except Exception as exc:  # Pillow raises many types for a bad file
            images.append(exc)
            continue
        if not row.thumbnail.name:
            _add_thumbnail(row, images[-1], data)
    readable = [image for image in images if not isinstance(image, Exception)]
    predictions = iter(predictor.predict_each(readable))
    outcomes = [image if isinstance(image, Exception) else next(predictions) for image in images]
    for row, outcome in zip(rows, outcomes):
        if isinstance(outcome, Exception):
            logger.warning("Classification %s failed: %s", row.pk, outcome)
    return outcomes


def _add_thumbnail(row: Classification, image, data: bytes) -> None:
    """Store a thumbnail for ``row`` (saved with its result); without one its pages keep showing the image.

    Made from the pixels decoded for the model, unless the model's input is
    smaller than the thumbnail and the JPEG was decoded at a reduced scale for
    it: then from a decode at the thumbnail's size.
    """
    side = settings.CLASSIFIER["THUMBNAIL_SIZE"]
    try:
        if max(image.size) < min(side, max(row.width or 0, row.height or 0)):
            image = open_image(data, reduce_to=side)
        row.thumbnail.save("thumbnail.jpg", ContentFile(thumbnail_jpeg(image, side)), save=False)
        row.new_thumbnail = True
    except Exception:
        logger.warning("Classification %s: could not store its thumbnail", row.pk, exc_info=True)
        row.thumbnail.name = ""


def _delete_new_thumbnails(rows) -> None:
    """Thumbnails made for rows whose results were not saved (another process took them over)."""
    for row in rows:
        if getattr(row, "new_thumbnail", False) and row.thumbnail.name:
            try:
                row.thumbnail.storage.delete(row.thumbnail.name)
            except Exception:
                logger.warning("Could not remove the unused thumbnail %s", row.thumbnail.name, exc_info=True)
