"""Delivering alerts: a signed JSON POST to the rule's webhook, or an e-mail through Django's mail backend.

The delivery task calls :func:`deliver` with a delivery's id; it returns the
seconds to wait before the next attempt, or None when the delivery is
finished (delivered, or failed for good: a 4xx answer other than 408/429, or
``ALERT_MAX_ATTEMPTS`` attempts). Every attempt is logged on the
``AlertDelivery`` row. A delivery already finished does nothing, so a
redelivered task cannot send twice; a receiver still sees each delivery's id
in a header, the same on every retry.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from classification.alerts.signing import DELIVERY_HEADER, SIGNATURE_HEADER, signature
from classification.models import Alert, AlertDelivery

logger = logging.getLogger(__name__)

_RETRYABLE = {408, 429}
CLAIM_MARGIN_S = 30  # an attempt's claim outlives its timeout by this much


class _Retry(Exception):
    pass


def deliver(delivery_id: int) -> float | None:
    """One attempt at a delivery; the seconds until the next one, or None when it is finished.

    The attempt is claimed with one ``UPDATE`` and made outside any transaction: no
    database lock is held while a webhook takes its time (SQLite has one lock for
    everything). A claim another attempt holds (a redelivered task) is waited out.
    """
    now = timezone.now()
    pending = AlertDelivery.objects.filter(pk=delivery_id, status=AlertDelivery.Status.PENDING)
    claim_s = settings.CLASSIFIER["ALERT_TIMEOUT_SECONDS"] + CLAIM_MARGIN_S
    claimed = pending.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).update(
        claimed_until=now + timedelta(seconds=claim_s), attempts=F("attempts") + 1
    )
    if not claimed:
        held = pending.values_list("claimed_until", flat=True).first()
        return None if held is None else max((held - now).total_seconds(), 1.0)  # finished, or another has it
    delivery = AlertDelivery.objects.select_related("alert__rule", "alert__camera", "alert__event").get(pk=delivery_id)
    try:
        if delivery.channel == AlertDelivery.Channel.WEBHOOK:
            delivery.response_status = _post(delivery)
        else:
            _mail(delivery)
    except _Retry as exc:
        return _failed_attempt(delivery, str(exc), retryable=True)
    except Exception as exc:
        return _failed_attempt(delivery, str(exc) or type(exc).__name__, retryable=False)
    delivery.status, delivery.last_error, delivery.finished_at = AlertDelivery.Status.DELIVERED, "", timezone.now()
    _save(delivery)
    return None


def _save(delivery: AlertDelivery) -> None:
    delivery.claimed_until = None
    delivery.save(update_fields=["response_status", "status", "last_error", "finished_at", "claimed_until"])


def _failed_attempt(delivery: AlertDelivery, error: str, *, retryable: bool) -> float | None:
    options = settings.CLASSIFIER
    delivery.last_error = error[:2000]
    retry_in = None
    if retryable and delivery.attempts < options["ALERT_MAX_ATTEMPTS"]:
        retry_in = options["ALERT_RETRY_BACKOFF_SECONDS"] * 2 ** (delivery.attempts - 1)
        logger.warning("Alert delivery %s failed (attempt %s), retrying in %.0f s: %s",
                       delivery.pk, delivery.attempts, retry_in, error)
    else:
        delivery.status, delivery.finished_at = AlertDelivery.Status.FAILED, timezone.now()
        logger.error("Alert delivery %s failed after %s attempts: %s", delivery.pk, delivery.attempts, error)
    _save(delivery)
    return retry_in


def alert_body(alert: Alert) -> dict:
    site = settings.CLASSIFIER["SITE_URL"]
    event, frame = alert.event, alert.frame
    return {
        "alert": alert.pk,
        "rule": {"id": alert.rule_id, "name": alert.rule.name},
        "camera": {"id": str(alert.camera.public_id), "name": alert.camera.name} if alert.camera else None,
        "label": alert.label,
        "confidence": round(alert.confidence, 4),
        "frames": alert.frame_count,
        "fired_at": alert.fired_at.isoformat(),
        "event": None if event is None else {
            "id": event.pk, "started_at": event.started_at.isoformat(), "ended_at": event.ended_at.isoformat()
        },
        "frame": None if frame is None else {  # by its public id, as on every page
            "id": str(frame.public_id),
            "url": site + reverse("classification-detail", args=[frame.public_id]),
            "image_url": site + reverse("classification-image", args=[frame.public_id]),
        },
    }


def _post(delivery: AlertDelivery) -> int:
    body = json.dumps(alert_body(delivery.alert), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery.pk)}
    if delivery.alert.rule.webhook_secret:
        headers[SIGNATURE_HEADER] = signature(delivery.alert.rule.webhook_secret, body)
    try:
        response = requests.post(delivery.target, data=body, headers=headers,
                                 timeout=settings.CLASSIFIER["ALERT_TIMEOUT_SECONDS"], allow_redirects=False)
    except requests.RequestException as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc
    delivery.response_status = response.status_code
    if 200 <= response.status_code < 300:
        return response.status_code
    message = f"The webhook answered HTTP {response.status_code}."
    if response.status_code >= 500 or response.status_code in _RETRYABLE:
        raise _Retry(message)
    raise RuntimeError(message)


def _mail(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    body = alert_body(alert)
    camera = body["camera"]["name"] if body["camera"] else "a camera"
    lines = [
        f"{alert.rule.name}: {alert.label} on {camera} ({alert.confidence:.0%}, {alert.frame_count} frames).",
        f"Fired at {alert.fired_at:%Y-%m-%d %H:%M:%S %Z}.",
    ]
    if body["frame"]:
        lines.append(f"Frame: {body['frame']['url']}")
    recipients = [address.strip() for address in delivery.target.split(",") if address.strip()]
    try:
        send_mail(f"[Alert] {alert.label} on {camera}", "\n".join(lines), None, recipients)
    except Exception as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc
