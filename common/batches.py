"""The batch runner: a job (a ``common.models.BatchJob``) is queued in a transaction, handed
to the task queue after the commit, claimed by exactly one worker, kept alive by the worker's
heartbeat, and recovered by a sweep when its worker dies or its task is lost.

What a job does is its app's business: the app declares a ``BatchQueue`` (its model, its
task, how long a silent worker is trusted, how many starts are enough, and how the sweep's
changes are audited) and passes the work to ``batch_run``. This module writes no audit entry
itself: ``common`` sits below the audit trail, so the queue's ``record`` does."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from django.db import transaction
from django.db.models import Q, QuerySet
from django_tasks.base import Task

from common import clock
from common.models import BatchJob

logger = logging.getLogger(__name__)

J = TypeVar("J", bound=BatchJob)
Status = BatchJob.Status


@dataclass(frozen=True)
class Recovered(Generic[J]):
    """One change the recovery sweep made to a job, for its audit entry: the job put back in
    the queue (``requeue``) or given up on (``fail``), with the facts behind it."""

    job: J
    action: Literal["requeue", "fail"]
    from_state: str
    to_state: str
    changes: dict[str, list[Any]]
    reason: str = ""


@dataclass(frozen=True)
class BatchQueue(Generic[J]):
    """One kind of background job, as the runner needs to know it."""

    model: type[J]
    # The task that runs one job; it is given the job's id as ``task_argument``.
    task: Task[..., Any]
    task_argument: str
    # A running job whose heartbeat is older than this has lost its worker.
    stale_after: timedelta
    # A job that has lost its worker this many times is failed rather than started again.
    max_attempts: int
    # The job's ``error`` (and the audit entry's reason) when the sweep gives up on it.
    gave_up_message: Callable[[int], str]
    # The audit entry's reason when a queued job's task was lost and it is enqueued again.
    lost_task_reason: Callable[[], str]
    # Writes the audit entry of a change the sweep made, in the sweep's transaction.
    record: Callable[[Recovered[J]], None]
    # Related rows the work reads from the job (``select_related`` when it is claimed).
    related: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class BatchRecovery:
    """What one sweep did: jobs put back in the queue, and jobs given up on."""

    requeued: int = 0
    failed: int = 0


class ClaimLost(Exception):
    """The job is no longer this worker's: the recovery sweep gave it to another one."""


def batch_enqueue(queue: BatchQueue[Any], job_id: int) -> None:
    """Hand the job to the task queue (after the commit that queued it) and note the task.
    A failure here is logged, not raised: the job is committed and stays queued without a
    task, and ``batches_recover`` enqueues it again."""
    try:
        result = queue.task.enqueue(**{queue.task_argument: job_id})
    except Exception:
        logger.exception(
            "%s %s could not be enqueued; the timers will retry", queue.model.__name__, job_id
        )
        return
    # Whatever the job's state by now (an immediate backend has already run it).
    queue.model._default_manager.filter(pk=job_id).update(
        task_id=str(result.id), enqueued_at=clock.now()
    )


def batch_task_gone(queue: BatchQueue[Any], task_id: str) -> bool:
    """Whether a queued job's task will never run it: there is none, or the task queue has
    no such task any more, or it has ended (without claiming the job). False when the task
    backend cannot say (it keeps no results), so a job is never enqueued twice on a guess."""
    from django_tasks.base import TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist

    if not task_id:
        return True
    if not queue.task.get_backend().supports_get_result:
        return False
    try:
        result = queue.task.get_result(task_id)
    except TaskResultDoesNotExist:
        return True
    return result.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class Claim(Generic[J]):
    """A worker's hold on a job for one attempt. Every write goes through a conditional
    UPDATE on (running, this attempt): once the sweep has given the job to another worker,
    the next write raises ``ClaimLost`` and changes nothing."""

    def __init__(self, job: J, attempt: int) -> None:
        self.job = job
        self.attempt = attempt
        # What could not be done without failing the job; kept in its ``error``.
        self.problems: list[str] = []
        self.finished = False
        self._mine: QuerySet[J] = type(job)._default_manager.filter(
            pk=job.pk, status=Status.RUNNING, attempts=attempt
        )

    def heartbeat(self, **changes: Any) -> None:
        """A sign of progress, with any progress fields (``total``, ``done``) changed."""
        if not self._mine.update(heartbeat_at=clock.now(), **changes):
            raise ClaimLost

    def problem(self, text: str) -> None:
        """Note something the job could not do without failing as a whole."""
        self.problems.append(text)

    def finish(self, **changes: Any) -> None:
        """Mark the job done, with its results (``changes``) and the problems noted. Call it
        inside the transaction that writes the job's own record of finishing."""
        if not self._mine.update(
            status=Status.DONE,
            error="\n".join(self.problems),
            heartbeat_at=clock.now(),
            finished_at=clock.now(),
            **changes,
        ):
            raise ClaimLost
        self.finished = True

    def fail(self, error: Exception) -> None:
        self._mine.update(
            status=Status.FAILED,
            error="\n".join([*self.problems, str(error)]),
            finished_at=clock.now(),
        )


def batch_claim(queue: BatchQueue[J], job_id: int) -> tuple[J, int | None]:
    """Take a queued job for this worker: a compare-and-set on (status, attempts), so of two
    workers (or a task enqueued twice) exactly one gets it. Returns the job and the attempt
    this worker owns, or ``None`` when another one has it (or it is finished)."""
    jobs = queue.model._default_manager.select_related(*queue.related)
    job = jobs.get(pk=job_id)
    if job.status != Status.QUEUED:
        return job, None
    attempt = job.attempts + 1
    claimed = jobs.filter(pk=job.pk, status=Status.QUEUED, attempts=job.attempts).update(
        status=Status.RUNNING,
        attempts=attempt,
        heartbeat_at=clock.now(),
        done=0,
        error="",
    )
    job = jobs.get(pk=job_id)
    return job, (attempt if claimed else None)


def batch_run(queue: BatchQueue[J], job_id: int, work: Callable[[Claim[J]], None]) -> J:
    """The worker: claim the job and do its ``work``, which reports progress through the
    claim's ``heartbeat`` and ends with ``finish`` (a work that returns without finishing is
    finished with no results). An exception from the work fails the job with its message,
    after the problems noted.

    Guarantees: only a queued job is run, and by one worker: the claim is one conditional
    UPDATE, and a worker that has lost its job to the recovery sweep (``batches_recover``)
    stops at its next heartbeat and writes nothing more. Returns the job as it now is."""
    job, attempt = batch_claim(queue, job_id)
    if attempt is None:
        return job
    claim = Claim(job, attempt)
    try:
        work(claim)
        if not claim.finished:
            claim.finish()
    except ClaimLost:
        pass  # another worker has the job now and does its work
    except Exception as error:
        claim.fail(error)
    job.refresh_from_db()
    return job


def batches_recover(queue: BatchQueue[J], *, now: datetime | None = None) -> BatchRecovery:
    """The sweep for jobs whose worker died: a running job with no heartbeat for the queue's
    ``stale_after`` goes back to the queue and is enqueued again (after the commit), or,
    after ``max_attempts`` starts, is failed with the queue's ``gave_up_message``. Either is
    recorded by the queue's ``record``. And a job queued that long whose task is missing
    (the enqueue after its commit failed or never happened) or has ended without running it
    is enqueued again.

    Guarantees: safe to run repeatedly and concurrently (each change is a conditional UPDATE
    on the stale heartbeat, so a job whose worker has just spoken, or that another sweep
    took, is left alone). Running a job again must be safe for its work: each job's work
    says why it is."""
    now = now or clock.now()
    cutoff = now - queue.stale_after
    jobs = queue.model._default_manager
    quiet = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    stale = list(jobs.filter(quiet, status=Status.RUNNING).order_by("pk"))
    # Before the running ones, so that a job this sweep puts back waits a full period.
    requeued, failed = _lost_in_queue(queue, cutoff, now), 0
    for job in stale:
        still_stale = jobs.filter(quiet, pk=job.pk, status=Status.RUNNING, attempts=job.attempts)
        last_heard = job.heartbeat_at.isoformat() if job.heartbeat_at else None
        facts: dict[str, list[Any]] = {
            "attempts": [None, job.attempts],
            "last_heartbeat": [None, last_heard],
        }
        with transaction.atomic():
            if job.attempts >= queue.max_attempts:
                message = queue.gave_up_message(job.attempts)
                if not still_stale.update(status=Status.FAILED, error=message, finished_at=now):
                    continue
                queue.record(
                    Recovered(
                        job=job,
                        action="fail",
                        from_state=Status.RUNNING,
                        to_state=Status.FAILED,
                        changes=facts,
                        reason=message,
                    )
                )
                failed += 1
                continue
            # The dead worker's task is not this job's any more; the new one is noted when
            # the queue takes it.
            if not still_stale.update(status=Status.QUEUED, task_id="", enqueued_at=now):
                continue
            _requeued(queue, job, from_state=Status.RUNNING, changes=facts)
            requeued += 1
    return BatchRecovery(requeued=requeued, failed=failed)


def _lost_in_queue(queue: BatchQueue[J], cutoff: datetime, now: datetime) -> int:
    """Enqueue again each job queued before ``cutoff`` that no task will run, recorded as a
    requeue with the queue's ``lost_task_reason``. Of two sweeps, one does it: the change is
    conditional on the task the sweep looked at."""
    jobs = queue.model._default_manager
    waiting = jobs.filter(status=Status.QUEUED).filter(
        Q(enqueued_at__isnull=True, created_at__lt=cutoff) | Q(enqueued_at__lt=cutoff)
    )
    requeued = 0
    for job in waiting.order_by("pk"):
        if not batch_task_gone(queue, job.task_id):
            continue  # waiting its turn behind other work
        with transaction.atomic():
            if not jobs.filter(
                pk=job.pk,
                status=Status.QUEUED,
                task_id=job.task_id,
                enqueued_at=job.enqueued_at,
            ).update(task_id="", enqueued_at=now):
                continue
            _requeued(
                queue,
                job,
                from_state=Status.QUEUED,
                reason=queue.lost_task_reason(),
                changes={"task": [job.task_id or None, None]},
            )
        requeued += 1
    return requeued


def _requeued(
    queue: BatchQueue[J],
    job: J,
    *,
    from_state: str,
    changes: dict[str, list[Any]],
    reason: str = "",
) -> None:
    """The record of a job the sweep put back in the queue, and its enqueue after the commit
    (inside the sweep's transaction for that job)."""
    queue.record(
        Recovered(
            job=job,
            action="requeue",
            from_state=from_state,
            to_state=Status.QUEUED,
            changes=changes,
            reason=reason,
        )
    )
    transaction.on_commit(functools.partial(batch_enqueue, queue, job.pk))
