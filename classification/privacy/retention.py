"""Keeping photos only as long as they are useful: the retention sweep, run by beat.

Unreviewed webcam frames and uploads expire after the configured number of
days (``CLASSIFIER_RETENTION_WEBCAM_DAYS``, ``CLASSIFIER_RETENTION_UPLOAD_DAYS``;
0 keeps them for ever) and are deleted with their files. Reviewed images
stay: they are the training data of the next model; so do those whose owner
suggested a label, until staff decide. Expired browser sessions go too, so
the owner keys of visitors who never came back do not pile up.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import Q, QuerySet
from django.utils import timezone

from classification.models import Classification
from classification.privacy.deletion import delete_classifications

logger = logging.getLogger(__name__)

BATCH = 500  # rows per query: a long backlog is deleted in slices, never loaded at once


def expired(now=None) -> QuerySet[Classification]:
    """Unreviewed, uncorrected rows older than their source's retention."""
    now = now or timezone.now()
    config = settings.CLASSIFIER
    by_age = Q(pk__in=[])
    for sources, days in (
        ([Classification.Source.WEBCAM], config["RETENTION_WEBCAM_DAYS"]),
        ([Classification.Source.UPLOAD, Classification.Source.API], config["RETENTION_UPLOAD_DAYS"]),
    ):
        if days > 0:
            by_age |= Q(source__in=sources, created_at__lt=now - timedelta(days=days))
    return Classification.objects.filter(by_age, reviewed_label="", suggested_label="")


def delete_expired(now=None) -> dict[str, int]:
    """Delete expired rows with their original and thumbnail; returns how many rows and sessions went."""
    now = now or timezone.now()
    deleted = 0
    while True:
        batch = list(expired(now).order_by("pk")[:BATCH])
        count = delete_classifications(batch)
        deleted += count
        if len(batch) < BATCH or count == 0:
            break
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    if deleted:
        logger.info("Retention: deleted %d expired classification(s) and their files", deleted)
    return {"deleted": deleted, "sessions": sessions}
