"""Deleting uploads for good: the row, the stored original and its thumbnail.

Files go first: a row is removed only once its files are gone, so a storage
failure leaves a row that can be deleted again, never a file nobody can find.
"""

from __future__ import annotations

import logging
from typing import Iterable

from classification.models import Classification

logger = logging.getLogger(__name__)


class DeletionFailed(RuntimeError):
    """Storage refused to delete a file: nothing was removed from the database (HTTP 503)."""


def delete_classification(classification: Classification) -> None:
    """Delete the stored files of ``classification``, then its row."""
    for stored in (classification.image, classification.thumbnail):
        if stored.name:
            try:
                stored.storage.delete(stored.name)  # a file already missing is fine
            except Exception as exc:
                logger.exception("Could not delete %s", stored.name)
                raise DeletionFailed("The stored image could not be deleted right now; please try again.") from exc
    classification.delete()


def delete_classifications(classifications: Iterable[Classification]) -> int:
    """Delete each one with its files; one that fails is kept (and logged) for the next try. Returns how many."""
    deleted = 0
    for classification in classifications:
        try:
            delete_classification(classification)
        except DeletionFailed:
            continue
        deleted += 1
    return deleted
