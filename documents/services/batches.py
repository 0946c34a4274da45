"""Township batches: every agreement of a township's approved applications, or every notice
of its villages in posting, issued in the background and zipped. The claim, the heartbeat
and the recovery of a batch whose worker died are ``common.batches``; what is here is what a
batch issues, its ZIP, and its audit entries."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import zipfile
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils.translation import gettext as _

from applications.models import Application, Area
from applications.roles import Role
from applications.selectors import area_scoped, areas_visible_to, is_everywhere
from audit.services import audit_record
from common.actors import Actor, person
from common.batches import (
    BatchQueue,
    BatchRecovery,
    Claim,
    Recovered,
    batch_enqueue,
    batch_run,
    batches_recover,
)
from common.errors import InvalidInput, NotFound, Refused
from common.files import stored_file
from documents.models import DocumentBatch
from documents.selectors import document_read
from documents.services.issuing import agreement_issue, notice_issue
from documents.tasks import document_batch_task

S = Application.Status

# Who may ask for a township's batch: its township reviewer, or a county role over it.
BATCH_ROLES = (Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)

# One document takes well under a second to issue (about 0.2 to 0.3 s for an agreement, see the
# README's measurements), and the worker writes a heartbeat after each one: five minutes
# of silence is hundreds of times the normal gap, so the worker is gone (killed, or its
# machine restarted), not slow. Short enough that the person waiting is not left for long.
DOCUMENT_BATCH_STALE_AFTER = timedelta(minutes=5)
# A batch that loses its worker this many times is failing for a reason of its own (a
# document that kills the process, say): it is failed rather than started again for ever.
DOCUMENT_BATCH_MAX_ATTEMPTS = 3


def document_batch_gave_up_message(attempts: int) -> str:
    return _(
        "The worker issuing this batch stopped %(attempts)d times before finishing it, so it "
        "was not started again. Request the batch again; if this happens again, tell the "
        "system administrator."
    ) % {"attempts": attempts}


def _lost_task_reason() -> str:
    return _("No task was going to run this batch, so it was queued again.")


def _recovery_audited(change: Recovered[DocumentBatch]) -> None:
    """The audit entry of a batch the recovery sweep requeued or failed: the system acts."""
    audit_record(
        actor=None,
        action=f"document_batch.{change.action}",
        object_type="document_batch",
        object_id=change.job.pk,
        area_code=change.job.township_code,
        from_state=change.from_state,
        to_state=change.to_state,
        reason=change.reason,
        changes=change.changes,
    )


DOCUMENT_BATCHES = BatchQueue(
    model=DocumentBatch,
    task=document_batch_task,
    task_argument="batch_id",
    stale_after=DOCUMENT_BATCH_STALE_AFTER,
    max_attempts=DOCUMENT_BATCH_MAX_ATTEMPTS,
    gave_up_message=document_batch_gave_up_message,
    lost_task_reason=_lost_task_reason,
    record=_recovery_audited,
    related=("requested_by",),
)


def batch_townships(actor: Actor) -> QuerySet[Area]:
    """The townships the actor may ask a batch for (none for a village cadre: a batch covers
    more than their village)."""
    townships = areas_visible_to(actor).filter(level=Area.Level.TOWNSHIP).order_by("code")
    if is_everywhere(actor):
        return townships
    return area_scoped(townships, actor, "code", BATCH_ROLES)


def document_batch_request(*, actor: Actor, kind: str, township_code: str) -> DocumentBatch:
    """Queue a batch: the agreements of every approved application of a township, or the
    notices of every village of it with applications in posting. The work runs in the
    background (``documents.tasks``), after this transaction commits.

    Guarantees: the township is in the actor's area under a batch role (else ``NotFound``);
    the request is audited."""
    if kind not in DocumentBatch.Kind.values:
        raise InvalidInput({"kind": [_("Choose the kind of batch.")]})
    township = batch_townships(actor).filter(code=township_code).first()
    if township is None:
        raise NotFound(_("No such township in your area."))
    with transaction.atomic():
        batch = DocumentBatch.objects.create(
            kind=kind, township_code=township.code, requested_by=person(actor)
        )
        audit_record(
            actor=actor,
            action="document_batch.request",
            object_type="document_batch",
            object_id=batch.pk,
            area_code=township.code,
            changes={"kind": [None, kind], "township": [None, township.code]},
        )
        transaction.on_commit(lambda: _enqueue_batch(batch.pk))
    return batch


def _enqueue_batch(batch_id: int) -> None:
    """Hand the batch to the task queue; on failure it stays queued and the sweep
    (``document_batches_recover``) enqueues it again."""
    batch_enqueue(DOCUMENT_BATCHES, batch_id)


def _batch_subjects(batch: DocumentBatch) -> list[tuple[str, Any]]:
    """What the batch issues, in a stable order: (label for the file name, issue call)."""
    prefix = batch.township_code[:9]
    actor = batch.requested_by
    if batch.kind == DocumentBatch.Kind.AGREEMENTS:
        apps = (
            Application.objects.filter(area_code__startswith=prefix, status=S.APPROVED)
            .select_related("household")
            .order_by("area_code", "id")
        )
        return [
            (
                f"{app.household.head_name}-{app.pk}",
                functools.partial(agreement_issue, actor=actor, application_id=app.pk),
            )
            for app in apps
        ]
    villages = sorted(
        set(
            Application.objects.filter(area_code__startswith=prefix, status=S.POSTED).values_list(
                "area_code", flat=True
            )
        )
    )
    names = dict(Area.objects.filter(code__in=villages).values_list("code", "name"))
    return [
        (names.get(code, code), functools.partial(notice_issue, actor=actor, village_code=code))
        for code in villages
    ]


def document_batch_run(*, batch_id: int) -> DocumentBatch:
    """The worker: claim the batch, issue each document of it (each one stored and audited
    as if issued alone, so a batch run again issues nothing new), count progress as it goes
    (each step also a heartbeat), and store one ZIP. A document that can no longer be issued
    is named in ``error``; anything else fails the batch with its message.

    Guarantees: only a queued batch is run, and by one worker: the claim is one conditional
    UPDATE, and a worker that has lost its batch to the recovery sweep
    (``document_batches_recover``) stops at its next step and writes nothing more."""
    return batch_run(DOCUMENT_BATCHES, batch_id, _batch_issue)


def _batch_issue(claim: Claim[DocumentBatch]) -> None:
    """The work of one batch, for ``common.batches.batch_run``."""
    batch = claim.job
    subjects = _batch_subjects(batch)
    claim.heartbeat(total=len(subjects))
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            for index, (label, issue) in enumerate(subjects, start=1):
                try:
                    document = issue()
                except (NotFound, Refused) as error:
                    claim.problem(f"{label}: {error.message}")
                else:
                    archive.writestr(
                        f"{index:04d}-{label}-{document.verification_code}.pdf",
                        document_read(document),
                    )
                claim.heartbeat(done=F("done") + 1)
        # A thousand agreements are hundreds of megabytes: hashed and stored from the
        # spooled file, never held in memory.
        spool.seek(0)
        zip_digest = hashlib.sha256()
        for chunk in iter(lambda: spool.read(1 << 20), b""):
            zip_digest.update(chunk)
        spool.seek(0)
        claim.heartbeat()
        # The ZIP is deleted again when the batch is not finished here (another worker has
        # it now, and writes its own).
        path = f"batches/{batch.kind}-{batch.township_code}-{batch.pk}.zip"
        with stored_file(path, spool) as name, transaction.atomic():
            claim.finish(zip_file=name)
            audit_record(
                actor=batch.requested_by,
                action="document_batch.finish",
                object_type="document_batch",
                object_id=batch.pk,
                area_code=batch.township_code,
                changes={
                    "documents": [None, len(subjects) - len(claim.problems)],
                    "sha256": [None, zip_digest.hexdigest()],
                },
            )


def document_batches_recover(*, now: datetime | None = None) -> BatchRecovery:
    """The sweep for batches whose worker died (``common.batches.batches_recover``): a
    running batch with no heartbeat for ``DOCUMENT_BATCH_STALE_AFTER`` goes back to the
    queue, or after ``DOCUMENT_BATCH_MAX_ATTEMPTS`` starts is failed with a message saying
    so; a batch queued that long whose task is lost is enqueued again. Each is audited
    (``document_batch.requeue``, ``document_batch.fail``) with the system as the actor.

    Guarantees: safe to run repeatedly and concurrently; running a batch again is safe
    because each document is stored once (issuing returns the stored one), so the recovered
    batch's ZIP still holds all."""
    return batches_recover(DOCUMENT_BATCHES, now=now)
