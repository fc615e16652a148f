"""Named API tokens: a person creates one per script or machine, sees when each was last used, revokes it.

The key is shown once, when it is made, and stored only as its SHA-256
(keys are 256 random bits, so a plain hash is enough; no salt is needed to
stop guessing). Use is recorded at most once a minute per token, so a busy
client does not write a row on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from classification.models import ApiToken

MAX_TOKENS_PER_USER = 50
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    pass


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def tokens_of(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """Make a named token for ``user``; returns it and its key, which is never available again."""
    name = " ".join((name or "").split())[:100]
    if not name:
        raise TokenError("Give the token a name, e.g. the script or machine that will use it.")
    if tokens_of(user).count() >= MAX_TOKENS_PER_USER:
        raise TokenError(f"You have {MAX_TOKENS_PER_USER} tokens already; revoke one you no longer use first.")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=hash_key(key), prefix=key[:8])
    return token, key


def revoke(user, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; False when they have no such token."""
    deleted, _ = tokens_of(user).filter(pk=token_id).delete()
    return bool(deleted)


def authenticate(key: str) -> ApiToken | None:
    """The live token with this key (its user attached), recording its use; None when there is none."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
