"""One Redis connection pool per process for Django's cache.

Django builds its cache objects per thread and per async context, so under
ASGI once per request, and each built its own connection pool: every request
that touched the cache (the upload form's rate limit) opened a new Redis
connection, and redis-py reads package metadata for each. Django's Redis cache
takes a ``pool_class`` (CACHES OPTIONS); this one hands every cache object the
process's pool for the same URL. redis-py pools reset themselves in a forked
child, so sharing is safe across a prefork worker's processes too.
"""

from __future__ import annotations

import threading

import redis

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _lock:
            if key not in _pools:
                _pools[key] = super().from_url(url, **kwargs)
            return _pools[key]
