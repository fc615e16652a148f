"""Webhook signatures: HMAC-SHA256 of the exact body with the rule's secret.

Receivers recompute it over the raw body they received and compare in
constant time (:func:`verify`, which the tests' receiver uses as a receiver would).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Classifier-Signature"
DELIVERY_HEADER = "X-Classifier-Delivery"  # the same on every retry of one delivery: receivers can drop repeats


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, body), header or "")
