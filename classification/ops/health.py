"""Liveness and readiness, for load balancers and orchestrators.

Ready means this deployment can classify now: the database and the broker
answer, and at least one live classify process (by its heartbeat,
``classification.serving.heartbeats``) has the active model loaded, or keeps
serving the previous one because the active one failed to load.
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
    """Ready when a live classify process (by its heartbeat, not a training worker) serves the active model.

    Also ready while a switch failed and live processes keep serving the
    previous model: the detail says so. A process silent for three beats does
    not count, whatever its row last said.
    """
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None:
        return False, "no active model version"
    live = WorkerProcess.objects.live(role=WorkerProcess.Role.CLASSIFY)
    serving = live.filter(model_version=active)
    if serving.exists():
        return True, f"{active.name} served by {_processes(serving)}"
    previous = live.exclude(model_version=None).select_related("model_version")
    if active.load_error and previous.exists():
        names = ", ".join(sorted({str(process.model_version) for process in previous}))
        return True, (f"{active.name} failed to load ({active.load_error}); still serving {names} "
                      f"on {_processes(previous)}")
    if previous.exists():
        return False, f"live classify workers still serve another model; switching to {active.name}"
    if live.exists():
        return False, f"no live classify worker has loaded {active.name} yet"
    return False, "no live classify worker (none has sent a heartbeat lately)"


def _processes(rows) -> str:
    ids = sorted(f"{row.hostname}:{row.pid}" for row in rows)
    return f"{len(ids)} live classify process(es) ({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''})"


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
