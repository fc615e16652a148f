"""kombu's Redis transport, not crashing the worker when Redis goes away.

When the broker connection is lost, Celery releases it and then closes its
channels; closing a channel hands the messages it had delivered, unacknowledged,
back to Redis. kombu 5.7 does that through the released connection and fails
with ``AttributeError`` (``'NoneType' object has no attribute 'hostname'``),
which Celery takes for an unrecoverable error: a Redis restart made the
classify worker exit, about one time in two (``bench/chaos.py``). Here that
hand-back is skipped when the connection is already gone, as it could not
reach Redis anyway: the messages stay in Redis' unacknowledged set (or died
with it), and the sweeper takes back what they carried
(:mod:`classification.serving.recovery`). Selected by ``CELERY_BROKER_TRANSPORT``
in the settings when Redis is the broker.
"""

from __future__ import annotations

import logging

from kombu.transport import redis

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        if client is None and self.channel.connection.client is None:
            logger.warning("Broker connection lost: %d delivered message(s) left to Redis and the sweeper",
                           len(self._delivered))
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
