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
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
