"""Township batches: every agreement or notice of a township as one ZIP, run as a
background task (the immediate backend here), scoped, with progress; claimed by one worker,
and recovered when that worker dies."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from applications.services import role_grant
from audit.models import AuditEntry
from common.batches import BatchRecovery
from common.errors import Code, InvalidInput, NotFound
from documents.models import DocumentBatch, StoredDocument
from documents.selectors import document_read
from documents.services import batches as batch_services
from documents.services.batches import (
    DOCUMENT_BATCH_MAX_ATTEMPTS,
    DOCUMENT_BATCH_STALE_AFTER,
    document_batch_gave_up_message,
    document_batch_request,
    document_batch_run,
    document_batches_recover,
)
from documents.services.issuing import agreement_issue
from tests.documents.conftest import OTHER_TOWNSHIP, TOWNSHIP, World

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def _two_approved(world: World) -> list[int]:
    second = world.household_new("张建国", 2, "6222020200112345679", "13812345679")
    return [
        world.application_approved(world.household).pk,
        world.application_approved(second, sheep=5).pk,
    ]


def _zip_names(batch: DocumentBatch) -> dict[str, bytes]:
    with batch.zip_file.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_agreements_batch_zips_every_approved_application(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    _two_approved(world)
    world.application_posted(world.household_new("王秀英", 3, "6222020200112345670", "13812345670"))

    with django_capture_on_commit_callbacks(execute=True):
        batch = document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )

    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.DONE
    assert (batch.total, batch.done, batch.error) == (2, 2, "")
    files = _zip_names(batch)
    documents = StoredDocument.objects.filter(kind=StoredDocument.Kind.AGREEMENT)
    assert documents.count() == 2
    assert sorted(files.values()) == sorted(document_read(d) for d in documents)
    assert any("李䶮" in name for name in files) and any("张建国" in name for name in files)


def test_notices_batch_has_one_notice_per_village_in_posting(world: World) -> None:
    world.application_posted(world.household)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )

    batch = document_batch_run(batch_id=batch.pk)

    assert (batch.status, batch.total, batch.done) == (DocumentBatch.Status.DONE, 1, 1)
    [content] = _zip_names(batch).values()
    assert content == document_read(StoredDocument.objects.get(kind=StoredDocument.Kind.NOTICE))


def test_batch_run_again_issues_nothing_new(world: World) -> None:
    _two_approved(world)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )
    document_batch_run(batch_id=batch.pk)
    again = document_batch_request(
        actor=world.approver, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )

    again = document_batch_run(batch_id=again.pk)

    assert again.done == 2
    assert StoredDocument.objects.count() == 2
    assert AuditEntry.objects.filter(action="document.issue").count() == 2


def test_batch_request_is_audited(world: World) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    entry = AuditEntry.objects.get(action="document_batch.request")
    assert entry.object_id == str(batch.pk) and entry.area_code == TOWNSHIP


@pytest.mark.parametrize("who", ["outsider", "cadre", "inspector"])
def test_batch_request_outside_batch_role_or_area_is_not_found(world: World, who: str) -> None:
    with pytest.raises(NotFound) as err:
        document_batch_request(
            actor=getattr(world, who), kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )
    assert err.value.code == Code.NOT_FOUND
    assert not DocumentBatch.objects.exists()


def test_batch_request_for_another_township_is_not_found(world: World) -> None:
    with pytest.raises(NotFound) as err:
        document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=OTHER_TOWNSHIP
        )
    assert err.value.code == Code.NOT_FOUND


def test_batch_request_unknown_kind_is_invalid(world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        document_batch_request(actor=world.reviewer, kind="letters", township_code=TOWNSHIP)
    assert err.value.code == Code.INVALID


# --- API and page --------------------------------------------------------------------------


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_batch_api_runs_and_reports_progress(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    _two_approved(world)
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(world.reviewer).post(
            "/api/v1/documents/batches/",
            {"kind": "agreements", "township": TOWNSHIP},
            format="json",
        )
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]

    detail = _api(world.reviewer).get(f"/api/v1/documents/batches/{batch_id}/").json()

    assert (detail["status"], detail["total"], detail["done"], detail["percent"]) == (
        "done",
        2,
        2,
        100,
    )
    download = _api(world.approver).get(detail["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"


def test_batch_api_out_of_area_is_404(world: World) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    outsider = _api(world.outsider)
    assert outsider.get(f"/api/v1/documents/batches/{batch.pk}/").status_code == 404
    assert outsider.get("/api/v1/documents/batches/").json()["results"] == []
    refused = outsider.post(
        "/api/v1/documents/batches/", {"kind": "notices", "township": TOWNSHIP}, format="json"
    )
    assert refused.status_code == 404


def test_batch_page_refreshes_while_queued_and_links_zip_when_done(
    world: World, client: Client
) -> None:
    world.application_posted(world.household)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    client.force_login(world.reviewer)

    queued = client.get(reverse("documents:batch", args=[batch.pk])).content.decode()
    document_batch_run(batch_id=batch.pk)
    done = client.get(reverse("documents:batch", args=[batch.pk])).content.decode()

    assert 'http-equiv="refresh"' in queued
    assert 'http-equiv="refresh"' not in done
    assert reverse("documents:batch_download", args=[batch.pk]) in done
    zipped = client.get(reverse("documents:batch_download", args=[batch.pk]))
    assert zipped.status_code == 200


def test_batch_page_out_of_area_is_404(world: World, client: Client) -> None:
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.NOTICES, township_code=TOWNSHIP
    )
    client.force_login(world.outsider)
    assert client.get(reverse("documents:batch", args=[batch.pk])).status_code == 404


def test_batch_start_form_redirects_to_progress(world: World, client: Client) -> None:
    user, _created = role_grant(
        actor=None, username="reviewer2", role="township_reviewer", area_code=TOWNSHIP
    )
    client.force_login(user)
    response = client.post(reverse("documents:batches"), {"kind": "notices", "township": TOWNSHIP})
    batch = DocumentBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("documents:batch", args=[batch.pk])


def test_batch_failure_is_recorded_with_its_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_approved(world)
    batch = document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )

    def broken(**kwargs: Any) -> StoredDocument:
        raise OSError("disk full")

    monkeypatch.setattr("documents.services.batches.agreement_issue", broken)
    batch = document_batch_run(batch_id=batch.pk)

    assert batch.status == DocumentBatch.Status.FAILED
    assert "disk full" in batch.error
    assert not batch.zip_file


# --- one worker per batch, and recovery when the worker dies ---------------------------------


class WorkerKilled(BaseException):
    """What a killed worker looks like from inside: nothing after it runs, no handler."""


def _crash_after(monkeypatch: pytest.MonkeyPatch, documents: int) -> None:
    """The worker process dies when it reaches document ``documents + 1``."""
    issued: list[int] = []

    def issue_then_die(**kwargs: Any) -> StoredDocument:
        if len(issued) == documents:
            raise WorkerKilled
        issued.append(kwargs["application_id"])
        return agreement_issue(**kwargs)

    monkeypatch.setattr("documents.services.batches.agreement_issue", issue_then_die)


def _requested(world: World) -> DocumentBatch:
    """Agreements of two approved applications, requested (queued: no worker yet)."""
    _two_approved(world)
    return document_batch_request(
        actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
    )


def _run_until_killed(batch: DocumentBatch, monkeypatch: pytest.MonkeyPatch) -> DocumentBatch:
    with monkeypatch.context() as patch:
        _crash_after(patch, documents=1)
        with pytest.raises(WorkerKilled):
            document_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def _assert_requeued_by_system(batch: DocumentBatch, *, from_state: str) -> AuditEntry:
    entry = AuditEntry.objects.get(action="document_batch.requeue")
    assert (entry.object_id, entry.actor, entry.from_state, entry.to_state) == (
        str(batch.pk),
        None,
        from_state,
        "queued",
    )
    return entry


def _later() -> datetime:
    return timezone.now() + DOCUMENT_BATCH_STALE_AFTER + timedelta(minutes=1)


def test_batch_run_claims_with_heartbeat_and_attempt(world: World) -> None:
    batch = _requested(world)
    before = timezone.now()

    batch = document_batch_run(batch_id=batch.pk)

    assert batch.status == DocumentBatch.Status.DONE
    assert batch.attempts == 1
    assert batch.heartbeat_at is not None and batch.heartbeat_at >= before


def test_batch_run_on_running_batch_does_nothing(world: World) -> None:
    batch = _requested(world)
    DocumentBatch.objects.filter(pk=batch.pk).update(
        status=DocumentBatch.Status.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )

    again = document_batch_run(batch_id=batch.pk)

    assert (again.status, again.done, again.attempts) == (DocumentBatch.Status.RUNNING, 0, 1)
    assert not StoredDocument.objects.exists()
    assert not AuditEntry.objects.filter(action="document_batch.finish").exists()


def test_batch_run_on_finished_batch_does_nothing(world: World) -> None:
    batch = document_batch_run(batch_id=_requested(world).pk)

    again = document_batch_run(batch_id=batch.pk)

    assert (again.status, again.attempts, again.zip_file) == (
        DocumentBatch.Status.DONE,
        1,
        batch.zip_file,
    )
    assert AuditEntry.objects.filter(action="document_batch.finish").count() == 1


def test_killed_worker_leaves_batch_running_with_its_heartbeat(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _run_until_killed(_requested(world), monkeypatch)

    assert (batch.status, batch.done, batch.attempts) == (DocumentBatch.Status.RUNNING, 1, 1)
    assert batch.heartbeat_at is not None


def test_stale_batch_is_requeued_audited_and_completes_with_every_document(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Capture
) -> None:
    batch = _run_until_killed(_requested(world), monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        recovery = document_batches_recover(now=_later())

    assert recovery == BatchRecovery(requeued=1, failed=0)
    _assert_requeued_by_system(batch, from_state="running")
    batch.refresh_from_db()
    assert (batch.status, batch.total, batch.done, batch.attempts, batch.error) == (
        DocumentBatch.Status.DONE,
        2,
        2,
        2,
        "",
    )
    documents = StoredDocument.objects.filter(kind=StoredDocument.Kind.AGREEMENT)
    assert documents.count() == 2
    assert AuditEntry.objects.filter(action="document.issue").count() == 2
    assert sorted(_zip_names(batch).values()) == sorted(document_read(d) for d in documents)


def test_fresh_running_batch_is_left_alone(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Capture
) -> None:
    batch = _run_until_killed(_requested(world), monkeypatch)

    with django_capture_on_commit_callbacks() as enqueued:
        recovery = document_batches_recover(now=timezone.now() + timedelta(seconds=30))

    assert recovery == BatchRecovery(requeued=0, failed=0)
    assert enqueued == []
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.RUNNING
    assert not AuditEntry.objects.filter(action="document_batch.requeue").exists()


def test_batch_is_failed_with_message_after_last_attempt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _requested(world)
    for _attempt in range(DOCUMENT_BATCH_MAX_ATTEMPTS - 1):
        batch = _run_until_killed(batch, monkeypatch)
        assert document_batches_recover(now=_later()).requeued == 1
    batch = _run_until_killed(batch, monkeypatch)
    assert batch.attempts == DOCUMENT_BATCH_MAX_ATTEMPTS

    recovery = document_batches_recover(now=_later())

    assert recovery == BatchRecovery(requeued=0, failed=1)
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.FAILED
    assert batch.finished_at is not None
    assert batch.error == document_batch_gave_up_message(DOCUMENT_BATCH_MAX_ATTEMPTS)
    entry = AuditEntry.objects.get(action="document_batch.fail")
    assert (entry.object_id, entry.actor, entry.reason) == (str(batch.pk), None, batch.error)
    # A failed batch is not picked up again, by the sweep or by a worker.
    assert document_batches_recover(now=_later() + DOCUMENT_BATCH_STALE_AFTER).failed == 0
    assert document_batch_run(batch_id=batch.pk).status == DocumentBatch.Status.FAILED


def test_gave_up_message_is_translated() -> None:
    with translation.override("en"):
        english = document_batch_gave_up_message(3)
    with translation.override("zh-hans"):
        chinese = document_batch_gave_up_message(3)

    assert "3" in english and "3" in chinese
    assert chinese != english


def test_worker_that_lost_its_batch_stops_and_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _requested(world)
    real_issue = agreement_issue

    def issue_while_swept(**kwargs: Any) -> StoredDocument:
        # The worker stalls on its first document; the sweep meanwhile gives the batch back
        # to the queue, and it would be another worker's from here on.
        document_batches_recover(now=_later())
        return real_issue(**kwargs)

    monkeypatch.setattr("documents.services.batches.agreement_issue", issue_while_swept)
    stalled = document_batch_run(batch_id=batch.pk)

    assert (stalled.status, stalled.done, stalled.zip_file) == (
        DocumentBatch.Status.QUEUED,
        0,
        "",
    )
    assert not AuditEntry.objects.filter(action="document_batch.finish").exists()
    monkeypatch.setattr("documents.services.batches.agreement_issue", real_issue)
    finished = document_batch_run(batch_id=batch.pk)
    assert (finished.status, finished.done, finished.attempts) == (
        DocumentBatch.Status.DONE,
        2,
        2,
    )
    assert StoredDocument.objects.count() == 2


def test_batch_page_and_api_show_restarted_attempt(
    world: World, monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    batch = _run_until_killed(_requested(world), monkeypatch)
    document_batches_recover(now=_later())
    client.force_login(world.reviewer)
    url = reverse("documents:batch", args=[batch.pk])

    queued = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    _run_until_killed(batch, monkeypatch)
    running = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    detail = _api(world.reviewer).get(f"/api/v1/documents/batches/{batch.pk}/").json()

    assert 'id="attempt"' in queued and "will start again (attempt 2 of 3)" in queued
    assert "Started again after the worker stopped: attempt 2 of 3" in running
    assert 'id="heartbeat"' in running and 'id="heartbeat"' not in queued
    assert detail["attempts"] == 2
    assert detail["heartbeat_at"] is not None


# A batch the task queue never got, or lost.

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_failed_enqueue_leaves_batch_queued_and_the_sweep_enqueues_it_again(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_tasks.backends.immediate import ImmediateBackend

    _two_approved(world)
    with monkeypatch.context() as patch:

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("task queue unreachable")

        patch.setattr(ImmediateBackend, "enqueue", broken)
        with django_capture_on_commit_callbacks(execute=True):
            batch = document_batch_request(
                actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
            )

    batch.refresh_from_db()
    assert (batch.status, batch.task_id, batch.enqueued_at) == (
        DocumentBatch.Status.QUEUED,
        "",
        None,
    )
    assert "could not be enqueued" in caplog.text
    # Not before the period is over: it may only be slow to reach the queue.
    assert document_batches_recover(now=timezone.now()) == BatchRecovery()

    with django_capture_on_commit_callbacks(execute=True):
        recovery = document_batches_recover(now=_later())

    assert recovery == BatchRecovery(requeued=1, failed=0)
    assert _assert_requeued_by_system(batch, from_state="queued").reason
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.attempts) == (DocumentBatch.Status.DONE, 2, 1)
    assert batch.task_id and batch.enqueued_at is not None


def test_batch_waiting_for_its_task_is_left_alone_and_a_lost_task_is_replaced(
    world: World, settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_TASKS  # tasks wait in the database for a worker
    _two_approved(world)
    with django_capture_on_commit_callbacks(execute=True):
        batch = document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )
    batch.refresh_from_db()
    task = DBTaskResult.objects.get(pk=batch.task_id)
    assert task.args_kwargs["kwargs"] == {"batch_id": batch.pk}

    # Long in the queue behind other work, its task still ready: nothing to do.
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        assert document_batches_recover(now=_later()) == BatchRecovery()
    assert enqueued == []
    assert DBTaskResult.objects.count() == 1

    # The task is gone (the queue's table was cleared): the sweep enqueues a new one, once.
    task.delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert document_batches_recover(now=_later()).requeued == 1
        assert document_batches_recover(now=_later()).requeued == 0
    batch.refresh_from_db()
    assert batch.status == DocumentBatch.Status.QUEUED
    new_task = DBTaskResult.objects.get()
    assert str(new_task.pk) == batch.task_id != str(task.pk)
    assert AuditEntry.objects.filter(action="document_batch.requeue").count() == 1


def test_task_that_ended_without_running_its_batch_is_replaced(
    world: World, settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_TASKS
    _two_approved(world)
    with django_capture_on_commit_callbacks(execute=True):
        batch = document_batch_request(
            actor=world.reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=TOWNSHIP
        )
    batch.refresh_from_db()
    DBTaskResult.objects.filter(pk=batch.task_id).update(status=TaskResultStatus.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        assert document_batches_recover(now=_later()).requeued == 1

    batch.refresh_from_db()
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).get().pk.hex == (
        batch.task_id.replace("-", "")
    )


def test_requeued_running_batch_forgets_its_dead_workers_task(
    world: World, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_TASKS
    batch = _requested(world)  # on_commit is not run here: no task yet
    batch_services._enqueue_batch(batch.pk)
    batch.refresh_from_db()
    dead_task = batch.task_id
    DBTaskResult.objects.filter(pk=dead_task).update(status=TaskResultStatus.RUNNING)
    batch = _run_until_killed(batch, monkeypatch)

    # The requeue's own enqueue does not happen (its on_commit is not run in this test):
    assert document_batches_recover(now=_later()).requeued == 1
    batch.refresh_from_db()
    assert (batch.status, batch.task_id) == (DocumentBatch.Status.QUEUED, "")
    # ... so a later sweep enqueues it, rather than waiting on the dead worker's task.
    later = _later() + DOCUMENT_BATCH_STALE_AFTER + timedelta(minutes=1)
    assert document_batches_recover(now=later).requeued == 1


# PostgreSQL: two worker processes (threads with their own connections) given one batch.


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_two_workers_on_one_batch_exactly_one_does_the_work(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Enqueued tasks wait (no worker): the two workers below are the only ones.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    batch = _requested(world)
    worked: list[int] = []
    real_subjects = batch_services._batch_subjects

    def counted(batch: DocumentBatch) -> list[tuple[str, Any]]:
        worked.append(batch.pk)
        return real_subjects(batch)

    monkeypatch.setattr(batch_services, "_batch_subjects", counted)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            document_batch_run(batch_id=batch.pk)
        except BaseException as exc:  # the test asserts there were none
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert worked == [batch.pk]
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.attempts) == (DocumentBatch.Status.DONE, 2, 1)
    assert AuditEntry.objects.filter(action="document_batch.finish").count() == 1
    assert StoredDocument.objects.count() == 2
    assert AuditEntry.objects.filter(action="document.issue").count() == 2
