"""kombu's Redis transport, not crashing the worker when Redis goes away.

When the broker connection is lost, Celery releases it and then closes its
channels; closing a channel hands the messages it had delivered, unacknowledged,
back to Redis. kombu 5.7 does that through the released connection and fails
with ``AttributeError`` (``'NoneType' object has no attribute 'hostname'``),
which Celery takes for an unrecoverable error: a Redis restart made the
classify worker exit, about one time in two (``bench/chaos.py``). Here that
hand-back is skipped when the connection is already gone (and so is the
acknowledgement of a task that finishes after it: the same crash), as it could not
reach Redis anyway: the messages stay in Redis' unacknowledged set (or died
with it), and the sweeper takes back what they carried
(:mod:`classification.serving.recovery`). Selected by ``CELERY_BROKER_TRANSPORT``
in the settings when Redis is the broker.
"""

from __future__ import annotations

import logging

from kombu.transport import redis, virtual

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def _connection_gone(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked(self, client=None):
        if client is None and self._connection_gone():
            logger.warning("Broker connection lost: %d delivered message(s) left to Redis and the sweeper",
                           len(self._delivered))
            self._delivered.clear()
            return
        super().restore_unacked(client)

    def ack(self, delivery_tag):
        """A task that finishes after its connection was lost: its message stays with Redis (a redelivery
        finds its rows finished and does nothing), instead of an ``AttributeError`` that stops the worker."""
        if self._connection_gone():
            logger.warning("Broker connection lost: message %s not acknowledged", delivery_tag)
            virtual.QoS.ack(self, delivery_tag)  # this channel's own bookkeeping only
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._connection_gone():
            self.ack(delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)


class Channel(redis.Channel):
    """Also one Redis client object per connection pool, where kombu makes a new one for every command.

    kombu wraps its pool in a new ``redis.Redis`` for each ``RPOP``, each
    unacknowledged-message pipeline and each publish; redis-py 8 fills about
    170 response callbacks into a new dictionary for every client built, which
    cost more CPU than the command itself (0.3 ms of the 0.66 a queued message
    cost the worker to take, profiled). A client is only a handle on the pool and
    is safe to share between threads, so one serves them all; a new pool (after
    a lost connection) gets a new one.
    """

    QoS = QoS
    _shared_client: tuple | None = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        shared = self._shared_client
        if shared is None or shared[0] is not pool:
            shared = self._shared_client = (pool, super()._create_client())
        return shared[1]


class Transport(redis.Transport):
    Channel = Channel
