"""Fixed-window rate limits in the shared cache (Redis), for the form and the webcam socket.

The REST API uses DRF's throttles; these cover what DRF does not see. Counts
live in the cache, so every web process of a deployment shares them; while
the cache cannot be reached the limits fail open (a Redis restart must not
refuse every upload).
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/min"`` → (30, 60). Raises ValueError for anything else."""
    count, _, period = rate.partition("/")
    if period not in _PERIODS or not count.isdigit():
        raise ValueError(f"Rate {rate!r} is not of the form N/second, N/min or N/hour.")
    return int(count), _PERIODS[period]


def allow(scope: str, ident: str, rate: str, cost: int = 1) -> bool:
    """Count ``cost`` hits for ``ident`` in this window; False once over the limit."""
    limit, period = parse_rate(rate)
    window = int(time.time() // period)
    key = f"ratelimit:{scope}:{ident}:{window}"
    try:
        return _count(key, cost, period + 1) <= limit
    except Exception as exc:  # the cache is down (a Redis restart): fail open rather than refuse everyone
        logger.warning("Rate limit %s not applied, the cache is unreachable: %s", scope, exc)
        return True


def _count(key: str, cost: int, timeout: int) -> int:
    if hasattr(cache, "count"):  # the Redis cache: one round trip (classifier_site.cache)
        return cache.count(key, cost, timeout)
    # Another cache (no Redis): increment first; in a busy window the key exists, one call instead of two.
    try:
        return cache.incr(key, cost)
    except ValueError:  # the window's first hit (or its key just expired)
        if cache.add(key, cost, timeout):
            return cost
        return cache.incr(key, cost)  # another request created it meanwhile


def client_ident(user, address: str | None) -> str:
    """Signed-in users are limited per account, everyone else per address."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"ip:{address or 'unknown'}"


def min_interval_seconds(rate: str) -> int:
    """The shortest whole number of seconds between two hits that ``rate`` always allows ("30/min" → 2)."""
    limit, period = parse_rate(rate)
    return max(1, -(-period // max(limit, 1)))
