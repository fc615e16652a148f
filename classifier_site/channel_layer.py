"""The channel layer on Redis, riding out a Redis restart.

channels-redis lets a Redis error escape from ``receive``, the one loop in
each web process that feeds every consumer: a Redis restart closed every
websocket with 1011, and a socket opened while Redis was away failed its
handshake (``group_add``). A restarted Redis without persistence also forgot
the groups, so sockets that did survive got no more pushes.

:class:`TolerantRedisChannelLayer` keeps the receive loop waiting while Redis
is down, remembers which groups this process's channels joined, and joins
them again once Redis answers, before receiving again. Joining or leaving a
group while Redis is down is remembered and done later instead of failing.
Pushes sent while Redis was down are lost (the worker logs them): pages learn
those results from the page itself (polling, the webcam socket's own checks).
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer

from classifier_site.cache import REDIS_DOWN

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class TolerantRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memberships: dict[str, set[str]] = {}  # channel -> the groups it joined, in this process

    async def group_add(self, group, channel):
        self.memberships.setdefault(channel, set()).add(group)
        try:
            await super().group_add(group, channel)
        except REDIS_DOWN as exc:
            logger.warning("Redis is unreachable; %s joins %s when it answers again: %s", channel, group, exc)

    async def group_discard(self, group, channel):
        groups = self.memberships.get(channel, set())
        groups.discard(group)
        if not groups:
            self.memberships.pop(channel, None)
        try:
            await super().group_discard(group, channel)
        except REDIS_DOWN:
            pass  # a restarted Redis forgot the group anyway; one that comes back lets it expire

    async def receive_single(self, channel):
        """Receive, waiting out a Redis outage; after one, join this process's groups again first."""
        lost = False
        while True:
            try:
                if lost:
                    await self._join_again()
                return await super().receive_single(channel)
            except REDIS_DOWN as exc:
                if not lost:
                    logger.warning("Redis is unreachable; websockets wait for it: %s", exc)
                lost = True
                await asyncio.sleep(RETRY_SECONDS)

    async def _join_again(self) -> None:
        for channel, groups in list(self.memberships.items()):
            for group in list(groups):
                await super().group_add(group, channel)
        logger.warning("Redis answers again; %d channel(s) joined their groups again", len(self.memberships))
