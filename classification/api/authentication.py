"""``Authorization: Token <key>`` for the named API tokens people make on their tokens page."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from classification.accounts import tokens


class NamedTokenAuthentication(TokenAuthentication):
    """DRF's token header, checked against the hashes of :mod:`classification.accounts.tokens`.

    A subclass of DRF's class, so the header, its error answers and the
    OpenAPI ``tokenAuth`` scheme stay exactly those of DRF's tokens.
    """

    def authenticate_credentials(self, key):
        token = tokens.authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
