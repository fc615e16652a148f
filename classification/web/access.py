"""Whose request this is, and what it may see: the one way pages and files ask.

Pages, files and the status poll read through
:func:`classification.results.selectors.visible_to` for the request's owner
(:mod:`classification.privacy.owners`); someone else's classification is a
404, never a 403, so its existence is not revealed either.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from classification.models import Classification
from classification.privacy.owners import Owner, request_owner
from classification.results import selectors


def owner(request: HttpRequest, *, create: bool = False) -> Owner:
    return request_owner(request, create=create)


def visible(request: HttpRequest) -> QuerySet[Classification]:
    current = request_owner(request)
    return selectors.visible_to(current.user, current.key)


def visible_or_404(request: HttpRequest, public_id: UUID) -> Classification:
    classification = selectors.classification_by_public_id(visible(request), public_id)
    if classification is None:
        raise Http404("No such classification.")
    return classification
