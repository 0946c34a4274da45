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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest

REPLICA = "replica"
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
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with replica_reads():
            return view(request, *args, **kwargs)

    return wrapped


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
