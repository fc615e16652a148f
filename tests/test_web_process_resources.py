"""What the web process reuses between requests instead of rebuilding per request (README, Performance)."""

from __future__ import annotations

import threading

import pytest


@pytest.mark.django_db
def test_cache_objects_of_every_thread_share_one_redis_pool_and_client(settings):
    """Django builds a cache object per thread and per request context; they must not each connect, nor build
    a Redis client for every call (redis-py 8 fills ~170 response callbacks for each)."""
    from django.core.cache import caches

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    pools, clients = [], []

    def use_cache() -> None:
        cache = caches["default"]
        cache.set("shared-pool-check", 1)
        pools.append(cache._cache._get_connection_pool(write=True))
        clients.extend([cache._cache.get_client(write=True), cache._cache.get_client("shared-pool-check")])

    threads = [threading.Thread(target=use_cache) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    use_cache()
    assert len({id(pool) for pool in pools}) == 1
    assert len(pools) == 6
    assert len({id(client) for client in clients}) == 1 and clients[0].connection_pool is pools[0]


def _asgi_get(application, path: str):
    """One GET through the ASGI application, as a server sends it; the response's start message."""
    from asgiref.testing import ApplicationCommunicator

    async def get():
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": [],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        await communicator.receive_output(5)
        await communicator.wait(5)
        return start

    return get()


def test_a_request_runs_its_middleware_and_view_in_one_hand_off_to_its_thread(monkeypatch):
    """Django's async-mode chain handed each request to a thread, back to the loop and to the thread again."""
    import asyncio

    from asgiref import sync

    from classifier_site.asgi import application

    calls = {"sync_to_async": 0, "async_to_sync": 0}
    for name, cls in (("sync_to_async", sync.SyncToAsync), ("async_to_sync", sync.AsyncToSync)):
        original = cls.__call__

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", counted)

    assert asyncio.run(_asgi_get(application, "/healthz"))["status"] == 200
    assert calls["async_to_sync"] == 0  # never back to the event loop in the middle of the chain
    # request_started's receivers, the chain with its view, and the response's close: one hand-off each.
    assert calls["sync_to_async"] == 3


def test_requests_reuse_threads_but_never_share_one_at_once(monkeypatch):
    """A new thread per request cost as much CPU as a small request; two at once still get one each."""
    import asyncio

    from django.core.handlers.base import BaseHandler

    from classifier_site.asgi import application

    threads, inside, both_inside = [], [], threading.Event()
    original = BaseHandler.get_response

    def get_response(self, request):
        threads.append(threading.current_thread())  # the object: a new thread may get an old one's ident
        inside.append(1)
        if request.path == "/healthz/together":
            if len(inside) == 2:
                both_inside.set()
            assert both_inside.wait(5), "the second request never ran while the first waited"
        response = original(self, request)
        inside.pop()
        return response

    monkeypatch.setattr(BaseHandler, "get_response", get_response)

    async def scenario():
        await _asgi_get(application, "/healthz")
        await _asgi_get(application, "/healthz")
        await asyncio.gather(_asgi_get(application, "/healthz/together"), _asgi_get(application, "/healthz/together"))

    asyncio.run(scenario())
    assert threads[0] is threads[1] is not threading.current_thread()  # the second request on the first one's thread
    assert threads[2] is not threads[3]  # a request that blocks never holds up another one


@pytest.mark.django_db
def test_a_rate_limit_hit_is_one_redis_round_trip(monkeypatch):
    import redis
    from django.core.cache import cache

    from classification.intake import ratelimit

    sent = []
    original = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                        lambda self, command, *args, **kwargs: (sent.append(command), original(self, command, *args, **kwargs))[1])
    cache.clear()
    sent.clear()

    assert ratelimit.allow("upload", "ip:192.0.2.1", "2/min")  # a new window
    assert len(sent) == 1
    assert ratelimit.allow("upload", "ip:192.0.2.1", "2/min")
    assert not ratelimit.allow("upload", "ip:192.0.2.1", "2/min")
    assert len(sent) == 3
    key = next(k for k in cache._cache.get_client().keys("*") if b"ratelimit:upload:ip:192.0.2.1" in k)
    assert 0 < cache._cache.get_client().ttl(key) <= 61  # the window's key expires with it


@pytest.mark.django_db
def test_a_visitor_s_session_is_read_from_the_cache_not_the_database():
    """Every upload reads its visitor's session (the owner key); a query for it cost the web process more than
    a cache read. The session is still written to the database, for when the cache misses."""
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from classification.privacy.owners import SESSION_FIELD

    client = Client()
    client.get(reverse("history"))
    session = client.session
    session[SESSION_FIELD] = "b" * 32
    session.save()
    assert Session.objects.filter(session_key=session.session_key).exists()

    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("history")).status_code == 200
    assert not [query for query in queries.captured_queries if "django_session" in query["sql"]]
