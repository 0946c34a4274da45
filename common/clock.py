"""The one clock of the system. Services, rules and timers ask ``now()``; tests and the demo
set the time with ``frozen_at`` instead of patching ``django.utils.timezone.now``, which
would also move Django's own timestamps (sessions, the task queue) and the test runner's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from django.utils import timezone

_state = threading.local()


def now() -> datetime:
    """The current time (aware, UTC), or the time set by ``frozen_at`` on this thread."""
    fixed: datetime | None = getattr(_state, "fixed", None)
    return fixed if fixed is not None else timezone.now()


def today() -> date:
    """Today's date where the county is (the project's time zone)."""
    return timezone.localdate(now())


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Within the block, ``now()`` answers ``moment`` on this thread (nested blocks stack)."""
    if timezone.is_naive(moment):
        raise ValueError("frozen_at needs an aware datetime")
    previous = getattr(_state, "fixed", None)
    _state.fixed = moment
    try:
        yield
    finally:
        _state.fixed = previous
