"""``manage.py process_timers``: closes the postings whose window has passed; safe to run
again and again."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from applications.models import Application
from tests.factories import World, after_posting

S = Application.Status


def _run() -> str:
    out = io.StringIO()
    call_command("process_timers", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_process_timers_closes_due_posting(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    app = world.application(S.POSTED)
    monkeypatch.setattr(timezone, "now", lambda: after_posting(app))

    output = _run()

    assert "closed 1 posting(s)" in output
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_process_timers_second_run_closes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = world.application(S.POSTED)
    monkeypatch.setattr(timezone, "now", lambda: after_posting(app))
    _run()

    output = _run()

    assert "closed 0 posting(s)" in output
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert app.decisions.filter(transition="close_posting").count() == 1


@pytest.mark.django_db
def test_process_timers_leaves_open_window(world: World) -> None:
    app = world.application(S.POSTED)

    output = _run()

    assert "closed 0 posting(s)" in output
    app.refresh_from_db()
    assert app.status == S.POSTED
