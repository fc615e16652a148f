"""Who owns an upload: the signed-in user, else the visitor's browser session.

An anonymous visitor is known by an *owner key*, a random value kept in their
session's data (server-side), not the session key itself: Django changes the
session key when someone signs in, and the key in the data survives that, so
the uploads of a visitor who then signs in become theirs
(:func:`claim_session_uploads`). Signing out flushes the session, and with it
the key: what was uploaded anonymously stays with the account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from classification.models import Classification

SESSION_FIELD = "classifier_owner_key"


@dataclass(frozen=True)
class Owner:
    """Whoever sends or looks: ``user`` when signed in, else the session's ``key`` ("" when it has none)."""

    user: object | None = None
    key: str = ""


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def owner_from(user, session, *, create: bool = False) -> Owner:
    """The owner for a request's (or a socket's) user and session; ``create`` gives a visitor a key.

    Reading never creates one, so a visitor who only looks gets no session;
    a submission does, so what they send is theirs from the first image on.
    """
    if _signed_in(user):
        return Owner(user=user)
    if session is None:
        return Owner()
    key = session.get(SESSION_FIELD, "")
    if not key and create:
        key = secrets.token_hex(16)
        session[SESSION_FIELD] = key
    return Owner(key=key)


def request_owner(request, *, create: bool = False) -> Owner:
    return owner_from(getattr(request, "user", None), getattr(request, "session", None), create=create)


@receiver(user_logged_in, dispatch_uid="classification.privacy.claim_session_uploads")
def claim_session_uploads(sender, request, user, **kwargs) -> None:
    """A visitor who signs in keeps what they uploaded before, now under their account."""
    session = getattr(request, "session", None)
    key = session.get(SESSION_FIELD, "") if session is not None else ""
    if key:
        Classification.objects.filter(submitted_by__isnull=True, owner_key=key).update(submitted_by=user, owner_key="")
        del session[SESSION_FIELD]
