"""Liveness and readiness, for load balancers and orchestrators.

Ready means this deployment can classify now: the database and the broker
answer, and at least one live worker process has the active model loaded.
"""

from __future__ import annotations

import socket

from django.db import connection

from classification import queueing
from classification.models import ModelVersion, WorkerProcess


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:
        return False, f"database unreachable: {type(exc).__name__}"




def _model() -> tuple[bool, str]:
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None:
        return False, "no active model version"
    hosts = set(WorkerProcess.objects.filter(model_version=active).values_list("hostname", flat=True))
    if not hosts:
        return False, f"no worker has loaded {active.name} yet"
    live = queueing.answering_worker_hosts()
    if live is not None and not hosts & live:
        return False, f"workers that loaded {active.name} do not answer"
    return True, f"{active.name} loaded on {', '.join(sorted(hosts))}"


def readiness() -> tuple[bool, dict[str, str]]:
    """(ready, what each check found); a failing check never raises."""
    checks = {}
    ready = True
    for name, check in (("database", _database), ("broker", queueing.broker_answers), ("model", _model)):
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
