"""The service rides out a dropped database connection, a Redis that is down or restarting, a broker that refuses work.

Against the real PostgreSQL (pg_terminate_backend of the test's own
connection) and a Redis server of the test's own that it kills and starts.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from bench.chaos_faults import PrivateRedis
from classification import queueing
from classification.accounts import tokens
from classification.intake import ratelimit
from classification.models import Classification
from classifier_site.cache import TolerantRedisCache
from classifier_site.channel_layer import TolerantRedisChannelLayer
from tests.conftest import image_bytes
from tests.running_service import free_port

RECONNECTING = "The database connection was lost; reconnecting"


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    """What an operator's pg_terminate_backend, or a server restart, does to one connection."""
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]:
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.02)
    time.sleep(0.05)  # its last words reach our socket


@pytest.mark.django_db(transaction=True)
def test_a_statement_outside_a_transaction_runs_again_on_a_new_connection(caplog):
    Classification.objects.count()
    first = backend_pid()
    terminate(first)

    with caplog.at_level(logging.WARNING, logger="classifier_site.postgresql.base"):
        assert Classification.objects.count() == 0  # instead of "terminating connection due to administrator command"

    assert RECONNECTING in caplog.text
    assert backend_pid() != first


@pytest.mark.django_db(transaction=True)
def test_a_statement_runs_again_until_a_connection_holds_when_its_new_one_is_dropped_too(caplog, monkeypatch):
    """Backends ended together are ended one by one: the connection a retry gets may be the next to go."""
    Classification.objects.count()
    terminate(backend_pid())
    reconnect, dropped = connection.reconnect_if_lost, []

    def reconnect_to_one_about_to_be_dropped():
        reconnected = reconnect()
        if reconnected and not dropped:
            with connection.connection.cursor() as raw:  # below Django's wrapper: no retry of its own
                dropped.append(raw.execute("SELECT pg_backend_pid()").fetchone()[0])
            terminate(dropped[0])
        return reconnected

    monkeypatch.setattr(connection, "reconnect_if_lost", reconnect_to_one_about_to_be_dropped)
    with caplog.at_level(logging.WARNING, logger="classifier_site.postgresql.base"):
        assert Classification.objects.count() == 0

    assert caplog.text.count(RECONNECTING) == 2 and backend_pid() != dropped[0]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_begins_on_a_live_connection(caplog):
    first = backend_pid()
    terminate(first)

    with caplog.at_level(logging.WARNING, logger="classifier_site.postgresql.base"):
        with transaction.atomic():
            Classification.objects.create(original_name="after-the-drop.jpg")
            inside = backend_pid()

    assert inside != first
    assert Classification.objects.filter(original_name="after-the-drop.jpg").exists()
    assert RECONNECTING not in caplog.text  # checked before the transaction began: nothing to retry


@pytest.mark.django_db(transaction=True)
def test_a_transaction_whose_first_statement_finds_the_connection_gone_begins_again(caplog):
    """Dropped after the transaction began, before its first statement (a worker's bulk save): nothing to lose."""
    first = backend_pid()
    committed = []

    with caplog.at_level(logging.WARNING, logger="classifier_site.postgresql.base"):
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(True))
            terminate(first)
            Classification.objects.create(original_name="first-statement.jpg")
            Classification.objects.create(original_name="second-statement.jpg")
            inside = backend_pid()

    assert inside != first
    assert Classification.objects.count() == 2 and committed == [True]
    assert "before the transaction did anything" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_inside_a_transaction_is_an_error_not_a_silent_retry():
    with pytest.raises(OperationalError):
        with transaction.atomic():
            Classification.objects.create(original_name="lost-with-its-transaction.jpg")
            terminate(backend_pid())
            Classification.objects.count()

    assert not Classification.objects.filter(original_name="lost-with-its-transaction.jpg").exists()
    assert Classification.objects.count() == 0  # and the next statement finds a connection again


@pytest.mark.django_db(transaction=True)
def test_the_pool_hands_out_no_dropped_connection(caplog):
    assert connection.pool is not None, "the test settings use PostgreSQL with a pool"
    first = backend_pid()
    connection.close()  # back into the pool, where the server drops it
    terminate(first)

    with caplog.at_level(logging.WARNING, logger="classifier_site.postgresql.base"):
        assert backend_pid() != first

    assert RECONNECTING not in caplog.text  # replaced when taken from the pool, before any statement


@pytest.fixture
def dead_cache(monkeypatch):
    """The cache pointed at a port where no Redis answers, for the rate limits and the API throttles."""
    cache = TolerantRedisCache(f"redis://127.0.0.1:{free_port()}/0",
                               {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})
    monkeypatch.setattr(ratelimit, "cache", cache)
    monkeypatch.setattr(SimpleRateThrottle, "cache", cache)
    return cache


def test_the_cache_answers_as_empty_while_redis_is_down(dead_cache):
    assert dead_cache.get("key", "default") == "default"
    dead_cache.set("key", 1)
    assert dead_cache.add("key", 1) is False
    assert dead_cache.get_many(["a", "b"]) == {}
    assert ratelimit.allow("upload", "ip:127.0.0.1", "1/min")
    assert ratelimit.allow("upload", "ip:127.0.0.1", "1/min")  # over the limit, but nothing can count: open


@pytest.mark.django_db(transaction=True)  # the queueing happens on commit
def test_uploads_are_accepted_while_redis_and_the_broker_are_down(dead_cache, monkeypatch, django_user_model, caplog):
    """Throttles fail open; an image the broker refused stays queued (the sweeper sends it), never failed."""
    def broker_down(classification_id):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(queueing, "classify", broker_down)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {tokens.create_token(django_user_model.objects.create_user('ann'), 'x')[1]}")

    with caplog.at_level(logging.WARNING):
        response = api.post("/api/v1/classifications/",
                            {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]}, format="multipart")
        form = api.post("/", {"files": [SimpleUploadedFile("b.jpg", image_bytes(), "image/jpeg")]},
                        HTTP_ACCEPT="application/json")

    assert (response.status_code, form.status_code) == (202, 202), (response.content, form.content)
    assert list(Classification.objects.values_list("status", flat=True)) == ["queued", "queued"]
    assert "the sweeper will queue it again" in caplog.text


@pytest.fixture
def private_redis():
    redis = PrivateRedis(free_port())
    redis.start()
    yield redis
    redis.stop()


def test_the_channel_layer_waits_out_a_redis_restart_and_joins_its_groups_again(private_redis):
    async def scenario():
        layer = TolerantRedisChannelLayer(hosts=[{"address": private_redis.url}], prefix="resilience")
        socket, late = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("feed", socket)
        receiving = asyncio.create_task(layer.receive(socket))
        await asyncio.sleep(0.3)  # blocked in Redis, as a web process always is

        private_redis.kill()  # empty when it comes back: the groups are gone
        await asyncio.sleep(0.5)
        await layer.group_add("feed", late)  # a socket opened meanwhile: joined later, no error
        assert not receiving.done()
        private_redis.start()

        deadline = time.monotonic() + 30
        while not receiving.done():
            assert time.monotonic() < deadline, "no message arrived after the restart"
            await layer.group_send("feed", {"type": "result", "n": 1})
            await asyncio.wait([receiving], timeout=0.3)
        message = receiving.result()
        late_message = await asyncio.wait_for(layer.receive(late), 10)
        await layer.flush()
        return message, late_message

    message, late_message = asyncio.run(scenario())

    assert message["type"] == late_message["type"] == "result"


def test_a_lost_broker_connection_closes_its_channel_without_crashing_the_worker(settings, caplog):
    """Celery releases a lost connection, then closes its channel, which gives back what it had delivered."""
    from kombu import Connection
    from kombu.utils.imports import symbol_by_name

    transport = symbol_by_name(settings.CELERY_BROKER_TRANSPORT)
    connection = Connection(settings.CELERY_BROKER_URL, transport=transport)
    channel = connection.channel()
    channel.qos._delivered["a-delivery-tag"] = object()  # a message handed out, unacknowledged
    channel.connection.client = None  # what releasing the lost connection leaves behind
    channel._pool = None

    with caplog.at_level(logging.WARNING, logger="classifier_site.broker"):
        channel.close()  # kombu's own transport raises AttributeError here, which stops a Celery worker
        channel.qos.ack("a-task-that-finished-later")  # and here, acknowledging through the closed channel

    assert "left to Redis and the sweeper" in caplog.text
    assert "not acknowledged" in caplog.text


def test_the_broker_channel_shares_one_redis_client_per_connection_pool(settings):
    """kombu built a client for every command (costing more CPU than the command); a new pool gets its own."""
    from kombu import Connection
    from kombu.utils.imports import symbol_by_name

    connection = Connection(settings.CELERY_BROKER_URL, transport=symbol_by_name(settings.CELERY_BROKER_TRANSPORT))
    channel = connection.channel()
    try:
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second and first.connection_pool is channel.pool
            assert first.ping()
        channel._disconnect_pools()  # what kombu does when the connection is lost
        with channel.conn_or_acquire() as after:
            assert after is not first and after.connection_pool is channel.pool
            assert after.ping()
    finally:
        connection.release()
