"""Checking alert rules against the frames of each event, and firing alerts.

Called for every frame counted in an event (stored or a near-duplicate): for
each enabled rule of the event's owner that watches the event's camera and
label, the frame extends the rule's streak in that event when its confidence
reaches the rule's minimum, and resets it otherwise. A streak of
``min_frames`` fires the rule, once per event, unless the rule fired for that
camera less than ``cooldown_seconds`` ago. Each alert gets a delivery per
channel (webhook, e-mail), queued once the alert is committed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from classification import queueing
from classification.models import Alert, AlertDelivery, AlertRule, AlertStreak, Classification, Event

logger = logging.getLogger(__name__)


def rules_for(event: Event):
    if event.camera_id is None or event.owner_id is None:
        return AlertRule.objects.none()
    return (
        AlertRule.objects.filter(enabled=True, owner_id=event.owner_id, label=event.label)
        .filter(Q(cameras__isnull=True) | Q(cameras=event.camera_id))
        .distinct()
    )


def frame_counted(event: Event, *, confidence: float, frame: Classification | None) -> list[Alert]:
    """Count one frame of ``event`` for every rule that watches it; the alerts it fired."""
    fired = []
    for rule in rules_for(event):
        try:
            alert = _count(rule, event, confidence, frame)
        except Exception:
            logger.exception("Alert rule %s: could not count a frame of event %s", rule.pk, event.pk)
            continue
        if alert is not None:
            fired.append(alert)
    return fired


def _count(rule: AlertRule, event: Event, confidence: float, frame: Classification | None) -> Alert | None:
    with transaction.atomic():
        streak, _ = AlertStreak.objects.select_for_update().get_or_create(rule=rule, event=event)
        if streak.decided:
            return None
        streak.frames = streak.frames + 1 if confidence >= rule.min_confidence else 0
        alert = None
        if streak.frames >= rule.min_frames:
            streak.decided = True
            if _cooling_down(rule, event):
                logger.info("Alert rule %s held back by its cooldown for event %s", rule.pk, event.pk)
            else:
                alert = _fire(rule, event, confidence, frame, streak.frames)
        streak.save(update_fields=["frames", "decided"])
    return alert


def _cooling_down(rule: AlertRule, event: Event) -> bool:
    since = timezone.now() - timedelta(seconds=rule.cooldown_seconds)
    return Alert.objects.filter(rule=rule, camera_id=event.camera_id, fired_at__gt=since).exists()


def _fire(rule: AlertRule, event: Event, confidence: float, frame, frames: int) -> Alert:
    alert = Alert.objects.create(
        rule=rule, event=event, camera_id=event.camera_id, frame=frame, label=event.label,
        confidence=confidence, frame_count=frames, fired_at=timezone.now(),
    )
    targets = []
    if rule.webhook_url:
        targets.append((AlertDelivery.Channel.WEBHOOK, rule.webhook_url))
    if rule.email_to.strip():
        targets.append((AlertDelivery.Channel.EMAIL, rule.email_to))
    for channel, target in targets:
        delivery = AlertDelivery.objects.create(alert=alert, channel=channel, target=target)
        transaction.on_commit(lambda pk=delivery.pk: _queue(pk))
    logger.info("Alert %s fired: rule %s, %s on camera %s", alert.pk, rule.pk, event.label, event.camera_id)
    return alert


def _queue(delivery_id: int) -> None:
    try:
        queueing.deliver_alert(delivery_id)
    except Exception:
        logger.exception("Could not queue alert delivery %s", delivery_id)
        AlertDelivery.objects.filter(pk=delivery_id, status=AlertDelivery.Status.PENDING).update(
            status=AlertDelivery.Status.FAILED, last_error="The alert queue is unavailable.", finished_at=timezone.now()
        )
