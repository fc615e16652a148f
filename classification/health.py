"""Liveness and readiness, for load balancers and orchestrators.

Ready means this deployment can classify now: the database and the broker
answer, and at least one live worker process has the active model loaded.
"""

from __future__ import annotations

import socket

from django.conf import settings
from django.db import connection

from classification.models import ModelVersion, WorkerProcess


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:
        return False, f"database unreachable: {type(exc).__name__}"


def _live_worker_hosts() -> set[str] | None:
    """Hosts of workers answering a ping; None where the broker cannot broadcast (fallback)."""
    if not settings.REDIS_URL:
        return None
    from classifier_site.celery import app

    replies = app.control.ping(timeout=1.0) or []
    return {name.split("@", 1)[-1] for reply in replies for name in reply}


def _broker() -> tuple[bool, str]:
    from classifier_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"broker unreachable: {type(exc).__name__}"


def _model() -> tuple[bool, str]:
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None:
        return False, "no active model version"
    hosts = set(WorkerProcess.objects.filter(model_version=active).values_list("hostname", flat=True))
    if not hosts:
        return False, f"no worker has loaded {active.name} yet"
    live = _live_worker_hosts()
    if live is not None and not hosts & live:
        return False, f"workers that loaded {active.name} do not answer"
    return True, f"{active.name} loaded on {', '.join(sorted(hosts))}"


def readiness() -> tuple[bool, dict[str, str]]:
    """(ready, what each check found); a failing check never raises."""
    checks = {}
    ready = True
    for name, check in (("database", _database), ("broker", _broker), ("model", _model)):
        if not ready:
            checks[name] = "skipped"
            continue
        try:
            ok, detail = check()
        except Exception as exc:
            ok, detail = False, f"{name} check failed: {type(exc).__name__}"
        checks[name] = detail
        ready = ready and ok
    return ready, checks


def liveness() -> dict[str, str]:
    return {"status": "ok", "host": socket.gethostname()}
