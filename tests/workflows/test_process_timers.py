"""``manage.py process_timers``: closes the postings whose window has passed and recovers the
document batches whose worker has stopped; safe to run again and again."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS

from applications.models import Application
from audit.models import AuditEntry
from documents.models import DocumentBatch
from documents.services.batches import DOCUMENT_BATCH_MAX_ATTEMPTS, DOCUMENT_BATCH_STALE_AFTER
from tests.factories import TOWNSHIP_1, World, after_posting

S = Application.Status
Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def _run() -> str:
    out = io.StringIO()
    call_command("process_timers", stdout=out)
    return out.getvalue()


def _running_batch(world: World, *, heard_at: datetime, attempts: int = 1) -> DocumentBatch:
    """A batch a worker claimed and last gave a sign of progress at ``heard_at``."""
    return DocumentBatch.objects.create(
        kind=DocumentBatch.Kind.NOTICES,
        township_code=TOWNSHIP_1,
        requested_by=world.user("reviewer_t1"),
        status=DocumentBatch.Status.RUNNING,
        attempts=attempts,
        heartbeat_at=heard_at,
    )


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


@pytest.mark.django_db
def test_process_timers_requeues_batch_whose_worker_stopped(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    batch = _running_batch(
        world, heard_at=timezone.now() - DOCUMENT_BATCH_STALE_AFTER - timedelta(minutes=1)
    )

    with django_capture_on_commit_callbacks() as enqueued:
        output = _run()

    assert "requeued 1 document batch(es), failed 0" in output
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.QUEUED
    assert len(enqueued) == 1
    assert AuditEntry.objects.filter(
        action="document_batch.requeue", object_id=str(batch.pk), actor=None
    ).exists()


@pytest.mark.django_db
def test_process_timers_closes_posting_and_recovers_batch_in_one_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = world.application(S.POSTED)
    now = after_posting(app)
    batch = _running_batch(world, heard_at=now - DOCUMENT_BATCH_STALE_AFTER * 2)
    monkeypatch.setattr(timezone, "now", lambda: now)

    output = _run()

    assert "closed 1 posting(s)" in output
    assert "requeued 1 document batch(es)" in output
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.QUEUED


@pytest.mark.django_db
def test_process_timers_fails_batch_after_last_attempt(world: World) -> None:
    batch = _running_batch(
        world, heard_at=timezone.now() - timedelta(hours=1), attempts=DOCUMENT_BATCH_MAX_ATTEMPTS
    )

    output = _run()

    assert "requeued 0 document batch(es), failed 1" in output
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.FAILED


@pytest.mark.django_db
def test_process_timers_leaves_batch_with_live_worker(world: World) -> None:
    batch = _running_batch(world, heard_at=timezone.now() - timedelta(seconds=5))

    output = _run()

    assert "requeued 0 document batch(es), failed 0" in output
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.RUNNING


@pytest.mark.django_db
def test_process_timers_requeues_a_scan_whose_worker_stopped(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    from crosscheck.models import Scan
    from crosscheck.services import SCAN_STALE_AFTER

    scan = Scan.objects.create(
        county_code="620902",
        requested_by=world.user("inspector_a"),
        status=Scan.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - SCAN_STALE_AFTER - timedelta(minutes=1),
    )

    with django_capture_on_commit_callbacks(execute=False):
        output = _run()

    assert "requeued 1 scan(s)" in output
    scan.refresh_from_db()
    assert scan.status == Scan.Status.QUEUED
    assert AuditEntry.objects.filter(
        action="integrity_scan.requeue", object_id=str(scan.pk)
    ).exists()


def test_process_timers_requeues_an_import_whose_worker_stopped(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    from applications.imports import IMPORT_STALE_AFTER
    from applications.models import HouseholdImport

    job = HouseholdImport.objects.create(
        requested_by=world.user("cadre_v1"),
        area_code="620902100200",
        sha256="0" * 64,
        size=10,
        stored_name="imports/x.bin",
        status=HouseholdImport.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - IMPORT_STALE_AFTER - timedelta(minutes=1),
    )

    with django_capture_on_commit_callbacks(execute=False):
        output = _run()

    assert "requeued 1 registry import(s)" in output
    job.refresh_from_db()
    assert job.status == HouseholdImport.Status.QUEUED
    assert AuditEntry.objects.filter(
        action="household_import.requeue", object_id=str(job.pk)
    ).exists()


@pytest.mark.django_db
def test_process_timers_deletes_expired_api_tokens_and_keeps_the_others(world: World) -> None:
    AuthToken.objects.create(user=world.user("cadre_v1"), expiry=timedelta(seconds=-1))
    _, kept = AuthToken.objects.create(user=world.user("cadre_v1"))

    out = _run()

    assert "deleted 1 expired API token(s)" in out
    assert list(AuthToken.objects.values_list("token_key", flat=True)) == [
        kept[: CONSTANTS.TOKEN_KEY_LENGTH]
    ]
