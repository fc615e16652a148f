"""Django's cache on Redis: one connection pool per process, and no errors while Redis restarts.

Django builds its cache objects per thread and per async context, so under
ASGI once per request, and each built its own connection pool: every request
that touched the cache (the upload form's rate limit) opened a new Redis
connection, and redis-py reads package metadata for each. Django's Redis cache
takes a ``pool_class`` (CACHES OPTIONS); this one hands every cache object the
process's pool for the same URL. redis-py pools reset themselves in a forked
child, so sharing is safe across a prefork worker's processes too. Django
also wraps the pool in a new ``redis.Redis`` for every cache call, and
redis-py 8 builds a dictionary of about 170 response callbacks for each: the
pool's one client serves every call instead (a client is only a handle on its
pool, safe to share between threads).

:class:`TolerantRedisCache` is the cache backend with Redis: it answers as an
empty cache while Redis is unreachable (see its docstring).
"""

from __future__ import annotations

import logging
import threading

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

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


_clients: dict[int, tuple[redis.ConnectionPool, redis.Redis]] = {}


class SharedClientCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        shared = _clients.get(id(pool))
        if shared is None or shared[0] is not pool:
            with _lock:
                shared = _clients[id(pool)] = (pool, self._client(connection_pool=pool))
        return shared[1]


# What a Redis that is restarting (or gone) raises; redis-py's TimeoutError and ConnectionError.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class TolerantRedisCache(RedisCache):
    """Django's Redis cache, answering a miss instead of raising while Redis is down.

    The cache only holds what can be lost (rate-limit and throttle counts), so
    a Redis restart must not turn requests into 500s: reads miss, writes are
    dropped, and rate limits and API throttles count nothing meanwhile (they
    fail open for the seconds Redis is away). ``incr`` still raises (a count
    that cannot be read cannot be incremented); :mod:`classification.intake.ratelimit`
    treats that as allowed.
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientCacheClient

    def add(self, *args, **kwargs):
        return self._or(False, super().add, *args, **kwargs)

    def get(self, key, default=None, version=None):
        return self._or(default, super().get, key, default, version)

    def set(self, *args, **kwargs):
        return self._or(None, super().set, *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._or(False, super().touch, *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._or(False, super().delete, *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._or({}, super().get_many, *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._or(False, super().has_key, *args, **kwargs)

    def set_many(self, keys, *args, **kwargs):
        return self._or(list(keys), super().set_many, keys, *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._or(None, super().delete_many, *args, **kwargs)

    def count(self, key, delta: int, timeout: int, version=None) -> int:
        """Add ``delta`` to the count at ``key``, created with ``timeout`` seconds to live: one round trip.

        Django's ``incr`` asks whether the key exists first (two round trips,
        three with ``add`` in a new window). Raises while Redis is down, as ``incr`` does.
        """
        key = self.make_and_validate_key(key, version=version)
        with self._cache.get_client(key, write=True).pipeline(transaction=False) as pipe:
            pipe.incrby(key, delta)
            pipe.expire(key, timeout, nx=True)  # the window's first hit sets its lifetime; later ones leave it
            value, _ = pipe.execute()
        return value

    @staticmethod
    def _or(fallback, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except REDIS_DOWN as exc:
            logger.warning("The cache (Redis) is unreachable, going without it: %s", exc)
            return fallback
