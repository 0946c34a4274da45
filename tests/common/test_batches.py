"""The batch runner on its own: a queue declared here (its own task, which no worker runs,
its own work and its own record of the sweep), run on DocumentBatch rows, the one concrete
job there is. What documents do with it is in tests/documents/services/test_batches.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from common.batches import (
    BatchQueue,
    BatchRecovery,
    Claim,
    ClaimLost,
    Recovered,
    batch_claim,
    batch_enqueue,
    batch_run,
    batch_task_gone,
    batches_recover,
)
from documents.models import DocumentBatch

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]
Status = DocumentBatch.Status
STALE_AFTER = timedelta(minutes=5)


@task()
def job_task(job_id: int) -> None:
    """The queue's task: enqueued by the runner, never run here (no worker)."""


@dataclass
class Runner:
    queue: BatchQueue[DocumentBatch]
    records: list[Recovered[DocumentBatch]] = field(default_factory=list)


@pytest.fixture
def runner(settings: Any) -> Runner:
    # Enqueued tasks wait in the database for a worker that never comes.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    records: list[Recovered[DocumentBatch]] = []
    queue = BatchQueue(
        model=DocumentBatch,
        task=job_task,
        task_argument="job_id",
        stale_after=STALE_AFTER,
        max_attempts=2,
        gave_up_message=lambda attempts: f"gave up after {attempts}",
        lost_task_reason=lambda: "no task",
        record=records.append,
        related=("requested_by",),
    )
    return Runner(queue=queue, records=records)


@pytest.fixture
def job(django_user_model: Any) -> DocumentBatch:
    requester = django_user_model.objects.create(username="requester")
    return DocumentBatch.objects.create(
        kind=DocumentBatch.Kind.NOTICES, township_code="500114101000", requested_by=requester
    )


def _later() -> datetime:
    return timezone.now() + STALE_AFTER + timedelta(minutes=1)


def _counting(claim: Claim[DocumentBatch]) -> None:
    claim.heartbeat(total=3)
    for _step in range(3):
        claim.heartbeat(done=F("done") + 1)
    claim.finish()


def _killed(claim: Claim[DocumentBatch]) -> None:
    """The worker dies after its first step (nothing after it runs)."""
    claim.heartbeat(total=3, done=1)
    raise KeyboardInterrupt


def _run_until_killed(runner: Runner, job: DocumentBatch) -> DocumentBatch:
    with pytest.raises(KeyboardInterrupt):
        batch_run(runner.queue, job.pk, _killed)
    job.refresh_from_db()
    return job


# --- the claim ----------------------------------------------------------------------------


def test_batch_claim_takes_a_queued_job_with_the_next_attempt(
    runner: Runner, job: DocumentBatch
) -> None:
    DocumentBatch.objects.filter(pk=job.pk).update(attempts=1, done=4, error="old")

    claimed, attempt = batch_claim(runner.queue, job.pk)

    assert attempt == 2
    assert (claimed.status, claimed.attempts, claimed.done, claimed.error) == (
        Status.RUNNING,
        2,
        0,
        "",
    )
    assert claimed.heartbeat_at is not None


def test_batch_claim_of_a_claimed_job_gets_nothing(runner: Runner, job: DocumentBatch) -> None:
    batch_claim(runner.queue, job.pk)

    again, attempt = batch_claim(runner.queue, job.pk)

    assert attempt is None
    assert (again.status, again.attempts) == (Status.RUNNING, 1)


# --- the run ------------------------------------------------------------------------------


def test_batch_run_counts_progress_and_finishes(runner: Runner, job: DocumentBatch) -> None:
    done = batch_run(runner.queue, job.pk, _counting)

    assert (done.status, done.total, done.done, done.attempts, done.error) == (
        Status.DONE,
        3,
        3,
        1,
        "",
    )
    assert done.finished_at is not None and done.heartbeat_at is not None


def test_batch_run_gives_the_work_the_claimed_job_with_its_related_rows(
    runner: Runner, job: DocumentBatch, django_assert_num_queries: Any
) -> None:
    seen: list[str] = []

    def work(claim: Claim[DocumentBatch]) -> None:
        with django_assert_num_queries(0):
            seen.append(claim.job.requested_by.username)
        assert (claim.job.status, claim.attempt) == (Status.RUNNING, 1)

    batch_run(runner.queue, job.pk, work)

    assert seen == ["requester"]


def test_batch_run_stores_the_works_results_when_it_finishes(
    runner: Runner, job: DocumentBatch
) -> None:
    def work(claim: Claim[DocumentBatch]) -> None:
        claim.finish(zip_file="batches/result.zip")

    done = batch_run(runner.queue, job.pk, work)

    assert (done.status, done.zip_file.name) == (Status.DONE, "batches/result.zip")


def test_batch_run_finishes_a_work_that_returns_without_finishing(
    runner: Runner, job: DocumentBatch
) -> None:
    done = batch_run(runner.queue, job.pk, lambda claim: None)

    assert done.status == Status.DONE and done.finished_at is not None


def test_batch_run_keeps_the_problems_noted_as_the_error(
    runner: Runner, job: DocumentBatch
) -> None:
    def work(claim: Claim[DocumentBatch]) -> None:
        claim.problem("first: gone")
        claim.problem("second: refused")

    done = batch_run(runner.queue, job.pk, work)

    assert (done.status, done.error) == (Status.DONE, "first: gone\nsecond: refused")


def test_batch_run_fails_the_job_with_the_problems_and_the_error(
    runner: Runner, job: DocumentBatch
) -> None:
    def work(claim: Claim[DocumentBatch]) -> None:
        claim.problem("first: gone")
        raise OSError("disk full")

    failed = batch_run(runner.queue, job.pk, work)

    assert (failed.status, failed.error) == (Status.FAILED, "first: gone\ndisk full")
    assert failed.finished_at is not None


def test_batch_run_of_a_job_not_queued_does_not_call_the_work(
    runner: Runner, job: DocumentBatch
) -> None:
    batch_run(runner.queue, job.pk, _counting)
    called: list[int] = []

    again = batch_run(runner.queue, job.pk, lambda claim: called.append(claim.attempt))

    assert called == []
    assert (again.status, again.attempts) == (Status.DONE, 1)


def test_heartbeat_after_the_sweep_took_the_job_raises_and_the_run_writes_nothing(
    runner: Runner, job: DocumentBatch
) -> None:
    lost: list[bool] = []

    def work(claim: Claim[DocumentBatch]) -> None:
        claim.heartbeat(total=3)
        batches_recover(runner.queue, now=_later())  # the worker stalled; the sweep acts
        try:
            claim.heartbeat(done=1)
        except ClaimLost:
            lost.append(True)
            raise

    swept = batch_run(runner.queue, job.pk, work)

    assert lost == [True]
    assert (swept.status, swept.done, swept.attempts, swept.finished_at) == (
        Status.QUEUED,
        0,
        1,
        None,
    )


def test_finish_after_the_sweep_took_the_job_raises_claim_lost(
    runner: Runner, job: DocumentBatch
) -> None:
    outcome: list[str] = []

    def work(claim: Claim[DocumentBatch]) -> None:
        batches_recover(runner.queue, now=_later())
        try:
            claim.finish(zip_file="batches/late.zip")
        except ClaimLost:
            outcome.append("lost")
            raise

    swept = batch_run(runner.queue, job.pk, work)

    assert outcome == ["lost"]
    assert (swept.status, swept.zip_file.name) == (Status.QUEUED, "")


# --- the queue ----------------------------------------------------------------------------


def test_batch_enqueue_hands_the_job_id_to_the_task_and_notes_the_task(
    runner: Runner, job: DocumentBatch
) -> None:
    batch_enqueue(runner.queue, job.pk)

    job.refresh_from_db()
    result = DBTaskResult.objects.get()
    assert result.args_kwargs["kwargs"] == {"job_id": job.pk}
    assert job.task_id == str(result.pk) and job.enqueued_at is not None


def test_batch_enqueue_that_fails_is_logged_and_leaves_the_job_without_task(
    runner: Runner,
    job: DocumentBatch,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_tasks_db.backend import DatabaseBackend

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("task queue unreachable")

    monkeypatch.setattr(DatabaseBackend, "enqueue", broken)

    batch_enqueue(runner.queue, job.pk)

    job.refresh_from_db()
    assert (job.status, job.task_id, job.enqueued_at) == (Status.QUEUED, "", None)
    assert f"DocumentBatch {job.pk} could not be enqueued" in caplog.text


def test_batch_task_gone_without_a_task(runner: Runner) -> None:
    assert batch_task_gone(runner.queue, "") is True


def test_batch_task_gone_is_false_when_the_backend_cannot_say(
    runner: Runner, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}

    assert batch_task_gone(runner.queue, "some-task") is False


def test_batch_task_gone_for_a_waiting_task_is_false_and_for_a_deleted_one_true(
    runner: Runner, job: DocumentBatch
) -> None:
    batch_enqueue(runner.queue, job.pk)
    job.refresh_from_db()

    assert batch_task_gone(runner.queue, job.task_id) is False
    DBTaskResult.objects.all().delete()
    assert batch_task_gone(runner.queue, job.task_id) is True


# --- the recovery sweep -------------------------------------------------------------------


def test_batches_recover_requeues_a_silent_job_records_it_and_enqueues_it(
    runner: Runner, job: DocumentBatch, django_capture_on_commit_callbacks: Capture
) -> None:
    job = _run_until_killed(runner, job)
    heard = job.heartbeat_at
    assert heard is not None

    with django_capture_on_commit_callbacks(execute=True):
        recovery = batches_recover(runner.queue, now=_later())

    assert recovery == BatchRecovery(requeued=1, failed=0)
    [record] = runner.records
    assert (record.job.pk, record.action, record.from_state, record.to_state, record.reason) == (
        job.pk,
        "requeue",
        Status.RUNNING,
        Status.QUEUED,
        "",
    )
    assert record.changes == {
        "attempts": [None, 1],
        "last_heartbeat": [None, heard.isoformat()],
    }
    job.refresh_from_db()
    assert (job.status, job.attempts, job.task_id) == (
        Status.QUEUED,
        1,
        str(DBTaskResult.objects.get().pk),
    )


def test_batches_recover_leaves_a_job_whose_worker_spoke_recently(
    runner: Runner, job: DocumentBatch, django_capture_on_commit_callbacks: Capture
) -> None:
    job = _run_until_killed(runner, job)

    with django_capture_on_commit_callbacks() as enqueued:
        recovery = batches_recover(runner.queue, now=timezone.now() + timedelta(seconds=30))

    assert recovery == BatchRecovery()
    assert enqueued == [] and runner.records == []
    job.refresh_from_db()
    assert job.status == Status.RUNNING


def test_batches_recover_fails_a_job_after_max_attempts_with_the_message(
    runner: Runner, job: DocumentBatch
) -> None:
    job = _run_until_killed(runner, job)
    assert batches_recover(runner.queue, now=_later()).requeued == 1
    job = _run_until_killed(runner, job)
    assert job.attempts == runner.queue.max_attempts

    recovery = batches_recover(runner.queue, now=_later())

    assert recovery == BatchRecovery(requeued=0, failed=1)
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "gave up after 2")
    assert job.finished_at is not None
    failed = runner.records[-1]
    assert (failed.action, failed.from_state, failed.to_state, failed.reason) == (
        "fail",
        Status.RUNNING,
        Status.FAILED,
        "gave up after 2",
    )
    assert failed.changes["attempts"] == [None, 2]
    # A failed job is left alone by later sweeps.
    assert batches_recover(runner.queue, now=_later() + STALE_AFTER) == BatchRecovery()


def test_batches_recover_enqueues_a_job_queued_without_task_after_the_period(
    runner: Runner, job: DocumentBatch, django_capture_on_commit_callbacks: Capture
) -> None:
    assert batches_recover(runner.queue, now=timezone.now()) == BatchRecovery()

    with django_capture_on_commit_callbacks(execute=True):
        recovery = batches_recover(runner.queue, now=_later())

    assert recovery == BatchRecovery(requeued=1, failed=0)
    [record] = runner.records
    assert (record.action, record.from_state, record.to_state, record.reason) == (
        "requeue",
        Status.QUEUED,
        Status.QUEUED,
        "no task",
    )
    assert record.changes == {"task": [None, None]}
    job.refresh_from_db()
    assert job.task_id == str(DBTaskResult.objects.get().pk)


def test_batches_recover_leaves_a_job_waiting_for_its_task(
    runner: Runner, job: DocumentBatch, django_capture_on_commit_callbacks: Capture
) -> None:
    batch_enqueue(runner.queue, job.pk)

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        recovery = batches_recover(runner.queue, now=_later())

    assert recovery == BatchRecovery()
    assert enqueued == [] and runner.records == []


def test_batches_recover_replaces_a_lost_task_once(
    runner: Runner, job: DocumentBatch, django_capture_on_commit_callbacks: Capture
) -> None:
    batch_enqueue(runner.queue, job.pk)
    job.refresh_from_db()
    lost = job.task_id
    DBTaskResult.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert batches_recover(runner.queue, now=_later()).requeued == 1
        assert batches_recover(runner.queue, now=_later()).requeued == 0

    [record] = runner.records
    assert record.changes == {"task": [lost, None]}
    job.refresh_from_db()
    assert job.task_id == str(DBTaskResult.objects.get().pk) != lost
