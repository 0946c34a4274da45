"""What ``/healthz`` tells a county's monitoring: whether the database answers, when the
timers last ran, when a task worker last took a task, and whether the disk holding the
stored documents has room. Answered by ``common.middleware.HealthCheck`` before anything
else of the site runs (no session, host check or redirect to HTTPS: the monitoring asks
the server itself), 200 when every check passes, 503 otherwise, as JSON.

The worker is asked rather than guessed at: every run of the timers sends it a ping (a
task, ``common.tasks.worker_ping``) unless the last one is still waiting, and the worker
that runs it records its heartbeat. A worker that has stopped, or one stuck behind a task
that never ends, leaves its heartbeat to age."""

from __future__ import annotations

import logging
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections

from common import clock
from common.models import Heartbeat

logger = logging.getLogger(__name__)

TIMERS = "timers"
WORKER = "worker"
PING_SENT = "worker_ping_sent"


def heartbeat_record(name: str) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": clock.now()})


def _beats() -> dict[str, datetime]:
    return dict(Heartbeat.objects.values_list("name", "beat_at"))


def worker_ping_send() -> bool:
    """Send the worker a ping, unless the last one is still waiting for it and younger than
    the health check's limit (a stopped worker must not come back to a pile of pings).
    Recorded as sent before it is queued: an immediate backend answers inside the call.
    True when a ping was sent."""
    from common.tasks import worker_ping

    beats = _beats()
    sent, answered = beats.get(PING_SENT), beats.get(WORKER)
    waiting = sent is not None and (answered is None or answered < sent)
    if waiting and (clock.now() - sent).total_seconds() < settings.FUPIN_HEALTH_STALE_SECONDS:  # type: ignore[operator]
        return False
    heartbeat_record(PING_SENT)
    try:
        worker_ping.enqueue()
    except Exception:  # the queue is the database: the database check will say why
        logger.exception("the worker's ping could not be queued")
        return False
    return True


def _age(moment: datetime | None) -> dict[str, Any]:
    limit = settings.FUPIN_HEALTH_STALE_SECONDS
    if moment is None:
        return {"ok": False, "last": None, "age_seconds": None, "limit_seconds": limit}
    age = max(0, round((clock.now() - moment).total_seconds()))
    return {
        "ok": age <= limit,
        "last": moment.isoformat(),
        "age_seconds": age,
        "limit_seconds": limit,
    }


def _disk() -> dict[str, Any]:
    path = Path(settings.MEDIA_ROOT)
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    free_mb = usage.free // (1024 * 1024)
    minimum = settings.FUPIN_HEALTH_DISK_MIN_MB
    return {
        "ok": free_mb >= minimum,
        "path": str(settings.MEDIA_ROOT),
        "free_mb": free_mb,
        "total_mb": usage.total // (1024 * 1024),
        "min_mb": minimum,
    }


def _replica() -> dict[str, Any]:
    """The read replica: in recovery (a standby), and how far its replay is behind the
    primary's log, in bytes."""
    from common.replica import REPLICA

    limit = settings.FUPIN_HEALTH_REPLICA_LAG_MB
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()")
            in_recovery, replayed = cursor.fetchone()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [replayed])
            lag = int(cursor.fetchone()[0] or 0)
    except DatabaseError as error:
        return {"ok": False, "error": type(error).__name__}
    return {
        "ok": bool(in_recovery) and lag <= limit * 1024 * 1024,
        "standby": bool(in_recovery),
        "lag_bytes": lag,
        "limit_mb": limit,
    }


def health_report() -> dict[str, Any]:
    """Every check, and ``ok`` when all of them pass."""
    checks: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        beats = _beats()
    except DatabaseError as error:
        checks["database"] = {"ok": False, "error": type(error).__name__}
        unknown = {"ok": False, "last": None, "age_seconds": None, "error": "no database"}
        checks["timers"] = checks["worker"] = unknown
    else:
        checks["database"] = {
            "ok": True,
            "vendor": connection.vendor,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        checks["timers"] = _age(beats.get(TIMERS))
        checks["worker"] = _age(beats.get(WORKER))
    checks["disk"] = _disk()
    from common.replica import replica_configured

    if replica_configured():
        checks["replica"] = _replica()
    return {"ok": all(check["ok"] for check in checks.values()), "checks": checks}
