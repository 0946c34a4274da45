"""The task worker's ping: sent by the timers, answered by whichever ``db_worker`` takes it,
so that ``/healthz`` knows a worker is taking tasks (``common.health``)."""

from __future__ import annotations

from django_tasks import task


@task()
def worker_ping() -> None:
    from common.health import WORKER, heartbeat_record

    heartbeat_record(WORKER)
