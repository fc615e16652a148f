"""Pushing finished classifications to websocket clients through the channel layer.

The worker never talks to a consumer: it sends to channel-layer groups, and
every consumer that joined a group relays the message to its browser. Two
groups get each result: the sending socket's own (a webcam page), and its
owner's (:func:`owner_group`), which that owner's history pages join. No
group is shared between people: nobody is pushed someone else's result.

Sends to Redis go through one long-lived event loop per process (a daemon
thread, started on first use, after any fork): ``async_to_sync`` would build a
new loop, and so a new Redis connection, for every push, which costs ten
times the send itself (README, Performance).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Sequence

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from classification.models import Classification
from classification.serving.payloads import classification_payload

logger = logging.getLogger(__name__)

FINISHED_EVENT = "classification.finished"  # handled by consumers' classification_finished()
PUSH_TIMEOUT_S = 10.0  # a hung Redis must not hang a worker


def owner_group(user_id: int | None, owner_key: str = "") -> str | None:
    """The live-feed group of a signed-in user, or of an anonymous session's owner key; None for nobody."""
    if user_id:
        return f"owner.user.{user_id}"
    if owner_key:
        return f"owner.session.{owner_key}"
    return None


def pushes_reach_pages() -> bool:
    """Whether a worker's push can reach a socket: not with the in-memory layer (no Redis), which only
    the web process itself can use, so pages poll instead."""
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def notify_finished(classification: Classification) -> None:
    """Tell the sending socket and the owner's pages; a broken channel layer only logs."""
    notify_finished_many([classification])


def notify_finished_many(classifications: Sequence[Classification]) -> None:
    """Push a micro-batch of results at once: one message per group, carrying every result for it.

    One event loop and one Redis connection for all of them, the sends
    concurrent: each ``async_to_sync`` call opens both anew, which costs more
    than the send itself. Results for the same group (one person's uploads,
    one webcam's frames) travel in one channel-layer message
    (:func:`pushed_results` reads either shape): channels-redis makes three
    round trips a send and the web process's consumer several Redis calls a
    message, whatever its size. A lone result keeps the one-result shape.
    """
    layer = get_channel_layer()
    if layer is None or not classifications:
        return
    by_group: dict[str, list[tuple[Classification, dict]]] = {}
    for classification in classifications:
        payload = classification_payload(classification)
        groups = (classification.notify_group, owner_group(classification.submitted_by_id, classification.owner_key))
        for group in dict.fromkeys(filter(None, groups)):
            by_group.setdefault(group, []).append((classification, payload))
    sends = [([c for c, _ in results], group, _finished_message([p for _, p in results]))
             for group, results in by_group.items()]
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the web process's own loop, which async_to_sync finds and uses.
        async_to_sync(_send_all)(layer, sends)
        return
    try:
        asyncio.run_coroutine_threadsafe(_send_all(layer, sends), _push_loop()).result(PUSH_TIMEOUT_S)
    except Exception:
        logger.warning("Could not push classifications %s", ", ".join(str(c.pk) for c in classifications), exc_info=True)


def _finished_message(payloads: list[dict]) -> dict:
    if len(payloads) == 1:  # the shape web processes of an older release read
        return {"type": FINISHED_EVENT, "classification": payloads[0]}
    return {"type": FINISHED_EVENT, "classifications": payloads}


def pushed_results(event: dict) -> list[dict]:
    """The results a finished-event message carries, in order: several (a batch's, for one group) or one."""
    return event.get("classifications") or [event["classification"]]


def warm_up() -> None:
    """Do now what the first push would: build a payload, start the push loop, open its Redis connection.

    The first result is then pushed as fast as the rest. Sends to a group
    nobody joins: channels-redis connects and loads its scripts, and delivers nothing.
    """
    classification_payload(Classification(pk=0))  # the first reverse() loads every URLconf and its views
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    try:
        send = layer.group_send(WARM_UP_GROUP, {"type": "warm.up"})
        asyncio.run_coroutine_threadsafe(send, _push_loop()).result(PUSH_TIMEOUT_S)
    except Exception:
        logger.warning("Could not reach the channel layer; results will be pushed when it answers", exc_info=True)


WARM_UP_GROUP = "classifications.warm-up"  # never joined
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _push_loop() -> asyncio.AbstractEventLoop:
    """This process's push loop; a forked child starts its own (the parent's thread did not fork)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="channel-layer-pushes", daemon=True).start()
        return _loop


async def _send_all(layer, sends) -> None:
    outcomes = await asyncio.gather(*(layer.group_send(group, message) for _, group, message in sends), return_exceptions=True)
    for (classifications, group, _), outcome in zip(sends, outcomes):
        if isinstance(outcome, Exception):
            logger.warning(
                "Could not push classification(s) %s to %s", ", ".join(str(c.pk) for c in classifications), group,
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )


def push_to_group(group: str, message: dict) -> None:
    """Send one message to a channel-layer group from any process (the capture service, a worker).

    Through this process's push loop, as results are; a broken channel layer only logs.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            async_to_sync(layer.group_send)(group, message)
        else:
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _push_loop()).result(PUSH_TIMEOUT_S)
    except Exception:
        logger.warning("Could not push %s to %s", message.get("type"), group, exc_info=True)
