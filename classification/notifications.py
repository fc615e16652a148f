"""Pushing finished classifications to websocket clients through the channel layer.

The worker never talks to a consumer: it sends to channel-layer groups, and
every consumer that joined a group relays the message to its browser. Two
groups get each result: the sender's own (a webcam socket), and the live feed
that history pages watch.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from classification.models import Classification
from classification.payloads import classification_payload

logger = logging.getLogger(__name__)

LIVE_FEED_GROUP = "classifications.live"
FINISHED_EVENT = "classification.finished"  # handled by consumers' classification_finished()


def notify_finished(classification: Classification) -> None:
    """Tell the sender and the live feed; a broken channel layer only logs."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": FINISHED_EVENT, "classification": classification_payload(classification)}
    for group in filter(None, (classification.notify_group, LIVE_FEED_GROUP)):
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.warning("Could not push classification %s to %s", classification.pk, group, exc_info=True)
