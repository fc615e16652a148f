"""Handing stored classifications to the workers.

Used when an image is accepted (:mod:`classification.intake.submission`) and
when the sweeper queues stranded work again (:mod:`classification.serving.recovery`).
"""

from __future__ import annotations

import logging

from classification import queueing

logger = logging.getLogger(__name__)


def enqueue(classification_id: int) -> bool:
    """Queue a stored classification; False when the broker is unreachable.

    The row stays queued either way: an image accepted while the broker is
    down (a Redis restart) is stored and recorded, so it is not lost, only not
    yet announced; the sweeper finds such rows (no message waiting for them)
    and queues them again once the broker answers. Failing them instead would
    throw away accepted work for a fault that lasts seconds.
    """
    try:
        queueing.classify(classification_id)
    except Exception:
        logger.warning("Could not queue classification %s; the sweeper will queue it again", classification_id,
                       exc_info=True)
        return False
    return True
