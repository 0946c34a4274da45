"""Reads sent to a read replica, when one is configured (``DATABASE_REPLICA_URL``): the
inspectors' searches and exports, the dashboards and the cross-check scans, which read much
and write little. Everything else reads the primary.

The rule that keeps replication lag from ever mattering: a read goes to the replica only
inside ``replica_reads()`` (or a view wrapped by ``replica_reads_view``, for GET and HEAD
only), and never while the primary has a transaction open on this thread. Every write
path of the services runs in a transaction (it locks the row it changes, then reads it), so
whatever a user acts on is read from the primary; a page that only shows may be a moment
behind. Writes always go to the primary. A queryset evaluated later (a streamed export)
names its database itself: ``.using(replica_alias())``."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
# After a write, the same user's pages read the primary this long (they show what they did).
STICKY_SECONDS = 15
_PRIMARY_UNTIL = "fupin_primary_until"
_reading = contextvars.ContextVar("fupin_replica_reads", default=False)
R = TypeVar("R")


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_alias() -> str:
    """The database a read that may lag goes to: the replica when there is one."""
    return REPLICA if replica_configured() else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads() -> Iterator[None]:
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_reads_view(view: Callable[..., R]) -> Callable[..., R]:
    """A view whose GET and HEAD read the replica (a POST is a write: the primary)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> R:
        if request.method not in ("GET", "HEAD") or _wrote_lately(request):
            return view(request, *args, **kwargs)
        with replica_reads():
            return view(request, *args, **kwargs)

    return wrapped


def _wrote_lately(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return session is not None and float(session.get(_PRIMARY_UNTIL, 0)) > time.time()


class StickToPrimaryAfterWrites:
    """Middleware: a user who has just posted something reads the primary for
    ``STICKY_SECONDS`` (the page a form redirects to shows the change it made, never the
    replica's moment-old view of it). Only when a replica is configured."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if (
            replica_configured()
            and session is not None
            and request.method not in ("GET", "HEAD", "OPTIONS")
        ):
            session[_PRIMARY_UNTIL] = time.time() + STICKY_SECONDS
        return response


def replica_caught_up(*, timeout: float = 30.0) -> bool:
    """Wait until the replica has replayed everything the primary has written so far (at
    most ``timeout`` seconds). True then, and at once without a replica (the primary is
    always current); False when it is further behind, or does not answer."""
    if not replica_configured():
        return True
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            target = cursor.fetchone()[0]
        deadline = time.monotonic() + timeout
        with connections[REPLICA].cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
                if cursor.fetchone()[0]:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
    except DatabaseError:
        return False


class ReplicaRouter:
    """``DATABASE_ROUTERS``: the replica for reads inside ``replica_reads`` outside any
    transaction of the primary; the primary for everything else."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if not _reading.get() or not replica_configured():
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS  # a read inside a write: what is acted on is current
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same rows on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
