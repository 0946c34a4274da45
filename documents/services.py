"""Issuing documents. Every document is rendered once, stored, and recorded (its SHA-256
in the audit trail, in the same transaction as the stored row); issuing the same subject
again returns the stored document, never a new rendering."""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
import secrets
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.models import Application, Area, Household
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    areas_visible_to,
    households_visible_to,
    is_everywhere,
    scope_prefixes,
)
from approvals.models import Decision
from audit.services import audit_record
from common import clock
from common.errors import Code, InvalidInput, NotFound, Refused
from documents import rendering
from documents.amounts import amount_in_figures, amount_in_words
from documents.models import DocumentBatch, StoredDocument
from documents.selectors import document_read

logger = logging.getLogger(__name__)

Kind = StoredDocument.Kind
S = Application.Status

# Who may issue (a write: a stored row and an audit entry). Inspectors read, never write.
ISSUER_ROLES = (
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.FINANCE_OFFICER,
)
DECISION_TRANSITIONS = ("county_approve", "return", "reject")
CODE_LENGTH = 10


def verification_code_new() -> str:
    """10 characters of base32 (50 random bits): short enough to type from paper."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:CODE_LENGTH]


def verification_url(code: str) -> str:
    """The public page a QR code points to. The host comes from ``FUPIN_PUBLIC_URL`` (a
    setting, or the environment), so that the printed URL does not depend on a request."""
    base = getattr(settings, "FUPIN_PUBLIC_URL", "") or os.environ.get(
        "FUPIN_PUBLIC_URL", "http://localhost:8000"
    )
    return base.rstrip("/") + reverse("documents:verify_code", args=[code])


def chinese_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


def _area_chain(area_code: str) -> dict[str, str]:
    """Names of the village, township and county that contain an area code."""
    codes = {
        "village": area_code,
        "township": area_code[:9] + "000",
        "county": area_code[:6] + "000000",
    }
    names = dict(Area.objects.filter(code__in=codes.values()).values_list("code", "name"))
    return {level: names.get(code, "") for level, code in codes.items()}


def _issue(
    *,
    actor: Any,
    kind: str,
    subject_key: str,
    title: str,
    area_code: str,
    template: str,
    context: dict[str, Any],
    application: Application | None = None,
    household: Household | None = None,
) -> StoredDocument:
    existing = StoredDocument.objects.filter(kind=kind, subject_key=subject_key).first()
    if existing is not None:
        return existing
    code = verification_code_new()
    issued_at = clock.now().replace(microsecond=0)
    url = verification_url(code)
    pdf = rendering.template_to_pdf(
        template,
        {
            **context,
            "title": title,
            "verification_code": code,
            "verification_url": url,
            "qr": rendering.qr_data_uri(url),
            "issued_at_iso": issued_at.isoformat(),
            "issued_on": chinese_date(issued_at),
        },
    )
    digest = hashlib.sha256(pdf).hexdigest()
    # Files are not transactional: the file is written first and removed again when the
    # row does not commit, so a stored row always has its file.
    name = default_storage.save(f"documents/{kind}/{code}.pdf", ContentFile(pdf))
    try:
        with transaction.atomic():
            doc = StoredDocument.objects.create(
                kind=kind,
                subject_key=subject_key,
                application=application,
                household=household,
                area_code=area_code,
                title=title,
                sha256=digest,
                verification_code=code,
                file=name,
                size=len(pdf),
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=issued_at,
            )
            audit_record(
                actor=actor,
                action="document.issue",
                object_type="document",
                object_id=doc.pk,
                area_code=area_code,
                changes={
                    "kind": [None, kind],
                    "subject": [None, subject_key],
                    "sha256": [None, digest],
                    "verification_code": [None, code],
                },
            )
    except IntegrityError:
        default_storage.delete(name)
        # Issued by someone else a moment ago: theirs is the document.
        return StoredDocument.objects.get(kind=kind, subject_key=subject_key)
    except BaseException:
        default_storage.delete(name)
        raise
    return doc


def _issuer_applications(actor: Any) -> QuerySet[Application]:
    roles = None if is_everywhere(actor) else ISSUER_ROLES
    return applications_visible_to(actor, roles=roles)


def _application_for(actor: Any, application_id: int) -> Application:
    app = (
        _issuer_applications(actor)
        .select_related("household", "program", "program_version")
        .filter(pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    return app


def _items(app: Application) -> list[dict[str, Any]]:
    return [
        {
            "name": line.item.name,
            "unit": line.item.unit,
            "quantity": line.quantity,
            "unit_amount": amount_in_figures(line.unit_amount),
            "amount": amount_in_figures(line.amount),
        }
        for line in app.items.select_related("item").order_by("item__code")
    ]


def _decided_at(app: Application, transition: str) -> datetime | None:
    decision = app.decisions.filter(transition=transition).order_by("-decided_at", "-id").first()
    return decision.decided_at if decision is not None else None


def agreement_issue(*, actor: Any, application_id: int) -> StoredDocument:
    """The household industry support agreement (到户产业帮扶协议书) of an approved (or
    disbursed) application.

    Guarantees: the application is in the actor's area and role (else ``NotFound``) and
    approved (else ``Refused``); issued once, audited."""
    app = _application_for(actor, application_id)
    if app.status not in (S.APPROVED, S.DISBURSED):
        raise Refused(
            _("An agreement is issued for an approved application; this one is %(status)s.")
            % {"status": app.get_status_display()},
            code=Code.NOT_APPROVED,
        )
    household = app.household
    places = _area_chain(app.area_code)
    return _issue(
        actor=actor,
        kind=Kind.AGREEMENT,
        subject_key=f"application:{app.pk}",
        title="到户产业帮扶协议书",
        area_code=app.area_code,
        application=app,
        household=household,
        template="documents/agreement.html",
        context={
            "app": app,
            "household": household,
            "places": places,
            "program": app.program,
            "policy_reference": app.program_version.policy_reference,
            "items": _items(app),
            "amount_figures": amount_in_figures(app.amount),
            "amount_words": amount_in_words(app.amount),
            "approved_on": chinese_date(_decided_at(app, "county_approve")),
            "party_a": f"{places['township']}人民政府" if places["township"] else "乡镇人民政府",
        },
    )


def decision_letter_issue(*, actor: Any, application_id: int) -> StoredDocument:
    """The letter telling the household the latest decision on its application (approved,
    returned or rejected), with the reason. One letter per decision."""
    app = _application_for(actor, application_id)
    decision = (
        Decision.objects.filter(application=app, transition__in=DECISION_TRANSITIONS)
        .select_related("actor")
        .order_by("-decided_at", "-id")
        .first()
    )
    if decision is None:
        raise Refused(
            _("This application has not been approved, returned or rejected."),
            code=Code.NO_DECISION,
        )
    outcome = {"county_approve": "approved", "return": "returned", "reject": "rejected"}[
        decision.transition
    ]
    places = _area_chain(app.area_code)
    return _issue(
        actor=actor,
        kind=Kind.DECISION_LETTER,
        subject_key=f"decision:{decision.pk}",
        title={
            "approved": "扶贫项目申请审批决定书",
            "returned": "扶贫项目申请退回补正通知书",
            "rejected": "扶贫项目申请不予批准决定书",
        }[outcome],
        area_code=app.area_code,
        application=app,
        household=app.household,
        template="documents/decision_letter.html",
        context={
            "app": app,
            "household": app.household,
            "places": places,
            "outcome": outcome,
            "reason": decision.reason,
            "decided_on": chinese_date(decision.decided_at),
            "submitted_on": chinese_date(_decided_at(app, "submit")),
            "amount_figures": amount_in_figures(app.amount),
            "amount_words": amount_in_words(app.amount),
            "office": (
                f"{places['county']}扶贫开发领导小组办公室"
                if outcome != "returned" or decision.from_status == S.COUNTY_REVIEW
                else f"{places['township']}人民政府"
            ),
        },
    )


def _digest(parts: Iterable[object]) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


def notice_issue(*, actor: Any, village_code: str) -> StoredDocument:
    """The public notice (公示表) of a village: the applications now in posting, with names
    and amounts only, never an ID, phone or card number. One notice per set of postings."""
    village = None
    if _may_issue_in(actor, village_code):
        village = (
            areas_visible_to(actor).filter(code=village_code, level=Area.Level.VILLAGE).first()
        )
    if village is None:
        raise NotFound(_("No such village in your area."))
    apps = list(
        Application.objects.filter(area_code=village.code, status=S.POSTED)
        .select_related("household", "program")
        .prefetch_related("items__item")
        .order_by("posting_started_at", "id")
    )
    if not apps:
        raise Refused(
            _("No application of this village is in public posting."), code=Code.NOTHING_POSTED
        )
    rows = [
        {
            "number": index,
            "head_name": app.household.head_name,
            "household_type": app.household.get_household_type_display(),
            "program": app.program.name,
            "items": "、".join(
                f"{line.item.name}{line.quantity}{line.item.unit}" for line in app.items.all()
            ),
            "amount": amount_in_figures(app.amount),
            "ends_on": chinese_date(app.posting_ends_at),
        }
        for index, app in enumerate(apps, start=1)
    ]
    starts = min((a.posting_started_at for a in apps if a.posting_started_at), default=None)
    ends = max((a.posting_ends_at for a in apps if a.posting_ends_at), default=None)
    places = _area_chain(village.code)
    total = sum((a.amount for a in apps), Decimal("0"))
    return _issue(
        actor=actor,
        kind=Kind.NOTICE,
        subject_key=f"village:{village.code}:"
        + _digest(f"{a.pk}@{a.posting_ends_at}:{a.amount}" for a in apps),
        title=f"{places['village']}扶贫项目公示表",
        area_code=village.code,
        template="documents/notice.html",
        context={
            "places": places,
            "rows": rows,
            "total": amount_in_figures(total),
            "starts_on": chinese_date(starts),
            "ends_on": chinese_date(ends),
        },
    )


def _may_issue_in(actor: Any, area_code: str) -> bool:
    """True when the actor holds a role that issues documents on an area containing it."""
    return is_everywhere(actor) or any(
        area_code.startswith(prefix) for prefix in scope_prefixes(actor, ISSUER_ROLES)
    )


def benefits_card_issue(*, actor: Any, household_id: int) -> StoredDocument:
    """The household's benefits card (明白卡): every support it receives across programs
    (approved or paid), with amounts and dates. A new card when the supports change."""
    household = households_visible_to(actor).filter(pk=household_id).first()
    if household is None or not _may_issue_in(actor, household.area_code):
        raise NotFound(_("No such household in your area."))
    apps = list(
        Application.objects.filter(household=household, status__in=[S.APPROVED, S.DISBURSED])
        .select_related("program")
        .prefetch_related("items__item")
        .order_by("created_at", "id")
    )
    rows = [
        {
            "program": app.program.name,
            "items": "、".join(
                f"{line.item.name}{line.quantity}{line.item.unit}" for line in app.items.all()
            ),
            "amount": amount_in_figures(app.amount),
            "approved_on": chinese_date(_decided_at(app, "county_approve")),
            "disbursed_on": chinese_date(_decided_at(app, "disburse")),
            "status": app.get_status_display(),
        }
        for app in apps
    ]
    total = sum((a.amount for a in apps), Decimal("0"))
    places = _area_chain(household.area_code)
    return _issue(
        actor=actor,
        kind=Kind.BENEFITS_CARD,
        subject_key=f"household:{household.pk}:" + _digest(f"{a.pk}:{a.status}" for a in apps),
        title="扶贫政策明白卡",
        area_code=household.area_code,
        household=household,
        template="documents/benefits_card.html",
        context={
            "household": household,
            "places": places,
            "rows": rows,
            "total_figures": amount_in_figures(total),
            "total_words": amount_in_words(total),
            "causes": "、".join(str(Household.Cause(c).label) for c in household.poverty_causes),
        },
    )


def document_issue(
    *,
    actor: Any,
    kind: str,
    application_id: int | None = None,
    household_id: int | None = None,
    village_code: str = "",
) -> StoredDocument:
    """Issue a document of ``kind`` about what it needs: an application (agreement, decision
    letter), a household (benefits card) or a village (notice). The same guarantees as the
    service of each kind; a missing subject is ``InvalidInput``."""
    if kind in (Kind.AGREEMENT, Kind.DECISION_LETTER):
        if not application_id:
            raise InvalidInput({"application": [_("Choose the application.")]})
        if kind == Kind.AGREEMENT:
            return agreement_issue(actor=actor, application_id=application_id)
        return decision_letter_issue(actor=actor, application_id=application_id)
    if kind == Kind.BENEFITS_CARD:
        if not household_id:
            raise InvalidInput({"household": [_("Choose the household.")]})
        return benefits_card_issue(actor=actor, household_id=household_id)
    if kind == Kind.NOTICE:
        if not village_code:
            raise InvalidInput({"village": [_("Choose the village.")]})
        return notice_issue(actor=actor, village_code=village_code)
    raise InvalidInput({"kind": [_("Choose the kind of document.")]})


# --- batches -------------------------------------------------------------------------------

# Who may ask for a township's batch: its township reviewer, or a county role over it.
BATCH_ROLES = (Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)


def document_batch_request(*, actor: Any, kind: str, township_code: str) -> DocumentBatch:
    """Queue a batch: the agreements of every approved application of a township, or the
    notices of every village of it with applications in posting. The work runs in the
    background (``documents.tasks``), after this transaction commits.

    Guarantees: the township is in the actor's area under a batch role (else ``NotFound``);
    the request is audited."""
    if kind not in DocumentBatch.Kind.values:
        raise InvalidInput({"kind": [_("Choose the kind of batch.")]})
    township = None
    if is_everywhere(actor) or any(
        township_code.startswith(p) for p in scope_prefixes(actor, BATCH_ROLES)
    ):
        township = (
            areas_visible_to(actor).filter(code=township_code, level=Area.Level.TOWNSHIP).first()
        )
    if township is None:
        raise NotFound(_("No such township in your area."))
    with transaction.atomic():
        batch = DocumentBatch.objects.create(
            kind=kind, township_code=township.code, requested_by=actor
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
    """Hand the batch to the task queue (after the commit that queued it) and note the task.
    A failure here is logged, not raised: the batch is committed and stays queued without a
    task, and ``document_batches_recover`` enqueues it again."""
    from documents.tasks import document_batch_task

    try:
        result = document_batch_task.enqueue(batch_id=batch_id)
    except Exception:
        logger.exception("document batch %s could not be enqueued; the timers will retry", batch_id)
        return
    # Whatever the batch's state by now (an immediate backend has already run it).
    DocumentBatch.objects.filter(pk=batch_id).update(
        task_id=str(result.id), enqueued_at=clock.now()
    )


def _batch_task_gone(task_id: str) -> bool:
    """Whether a queued batch's task will never run it: there is none, or the task queue has
    no such task any more, or it has ended (without claiming the batch). False when the task
    backend cannot say (it keeps no results), so a batch is never enqueued twice on a guess."""
    from django_tasks.base import TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist

    from documents.tasks import document_batch_task

    if not task_id:
        return True
    if not document_batch_task.get_backend().supports_get_result:
        return False
    try:
        result = document_batch_task.get_result(task_id)
    except TaskResultDoesNotExist:
        return True
    return result.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


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


class _ClaimLost(Exception):
    """The batch is no longer this worker's: the recovery sweep gave it to another one."""


def _batch_claim(batch_id: int) -> tuple[DocumentBatch, int | None]:
    """Take a queued batch for this worker: a compare-and-set on (status, attempts), so of
    two workers (or a task enqueued twice) exactly one gets it. Returns the batch and the
    attempt this worker owns, or ``None`` when another one has it (or it is finished)."""
    batch = DocumentBatch.objects.select_related("requested_by").get(pk=batch_id)
    if batch.status != DocumentBatch.Status.QUEUED:
        return batch, None
    attempt = batch.attempts + 1
    claimed = DocumentBatch.objects.filter(
        pk=batch.pk, status=DocumentBatch.Status.QUEUED, attempts=batch.attempts
    ).update(
        status=DocumentBatch.Status.RUNNING,
        attempts=attempt,
        heartbeat_at=clock.now(),
        done=0,
        error="",
    )
    batch = DocumentBatch.objects.select_related("requested_by").get(pk=batch_id)
    return batch, (attempt if claimed else None)


def document_batch_run(*, batch_id: int) -> DocumentBatch:
    """The worker: claim the batch, issue each document of it (each one stored and audited
    as if issued alone, so a batch run again issues nothing new), count progress as it goes
    (each step also a heartbeat), and store one ZIP. A document that can no longer be issued
    is named in ``error``; anything else fails the batch with its message.

    Guarantees: only a queued batch is run, and by one worker: the claim is one conditional
    UPDATE, and a worker that has lost its batch to the recovery sweep
    (``document_batches_recover``) stops at its next step and writes nothing more."""
    batch, attempt = _batch_claim(batch_id)
    if attempt is None:
        return batch
    mine = DocumentBatch.objects.filter(
        pk=batch.pk, status=DocumentBatch.Status.RUNNING, attempts=attempt
    )

    def heartbeat(**changes: Any) -> None:
        if not mine.update(heartbeat_at=clock.now(), **changes):
            raise _ClaimLost

    problems: list[str] = []
    name = ""
    try:
        subjects = _batch_subjects(batch)
        heartbeat(total=len(subjects))
        with tempfile.TemporaryFile() as spool:
            with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
                for index, (label, issue) in enumerate(subjects, start=1):
                    try:
                        document = issue()
                    except (NotFound, Refused) as error:
                        problems.append(f"{label}: {error.message}")
                    else:
                        archive.writestr(
                            f"{index:04d}-{label}-{document.verification_code}.pdf",
                            document_read(document),
                        )
                    heartbeat(done=F("done") + 1)
            # A thousand agreements are hundreds of megabytes: hashed and stored from the
            # spooled file, never held in memory.
            spool.seek(0)
            zip_digest = hashlib.sha256()
            for chunk in iter(lambda: spool.read(1 << 20), b""):
                zip_digest.update(chunk)
            spool.seek(0)
            heartbeat()
            name = default_storage.save(
                f"batches/{batch.kind}-{batch.township_code}-{batch.pk}.zip", File(spool)
            )
        with transaction.atomic():
            finished = mine.update(
                status=DocumentBatch.Status.DONE,
                zip_file=name,
                error="\n".join(problems),
                heartbeat_at=clock.now(),
                finished_at=clock.now(),
            )
            if not finished:
                raise _ClaimLost
            audit_record(
                actor=batch.requested_by,
                action="document_batch.finish",
                object_type="document_batch",
                object_id=batch.pk,
                area_code=batch.township_code,
                changes={
                    "documents": [None, len(subjects) - len(problems)],
                    "sha256": [None, zip_digest.hexdigest()],
                },
            )
    except _ClaimLost:
        # Another worker has the batch now and writes its own ZIP.
        if name:
            default_storage.delete(name)
    except Exception as error:
        if name:
            default_storage.delete(name)
        mine.update(
            status=DocumentBatch.Status.FAILED,
            error="\n".join([*problems, str(error)]),
            finished_at=clock.now(),
        )
    batch.refresh_from_db()
    return batch


# One document takes well under a second to issue (about 0.2 to 0.3 s for an agreement, see the
# README's measurements), and the worker writes a heartbeat after each one: five minutes
# of silence is hundreds of times the normal gap, so the worker is gone (killed, or its
# machine restarted), not slow. Short enough that the person waiting is not left for long.
DOCUMENT_BATCH_STALE_AFTER = timedelta(minutes=5)
# A batch that loses its worker this many times is failing for a reason of its own (a
# document that kills the process, say): it is failed rather than started again for ever.
DOCUMENT_BATCH_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class BatchRecovery:
    """What one sweep did: batches put back in the queue, and batches given up on."""

    requeued: int = 0
    failed: int = 0


def document_batch_gave_up_message(attempts: int) -> str:
    return _(
        "The worker issuing this batch stopped %(attempts)d times before finishing it, so it "
        "was not started again. Request the batch again; if this happens again, tell the "
        "system administrator."
    ) % {"attempts": attempts}


def document_batches_recover(*, now: datetime | None = None) -> BatchRecovery:
    """The sweep for batches whose worker died: a running batch with no heartbeat for
    ``DOCUMENT_BATCH_STALE_AFTER`` goes back to the queue and is enqueued again (after the
    commit), or, after ``DOCUMENT_BATCH_MAX_ATTEMPTS`` starts, is failed with a message
    saying so. Either is audited with the system as the actor. And a batch queued that long
    whose task is missing (the enqueue after its commit failed or never happened) or has
    ended without running it is enqueued again (``_batches_lost_in_queue``).

    Guarantees: safe to run repeatedly and concurrently (each change is a conditional UPDATE
    on the stale heartbeat, so a batch whose worker has just spoken, or that another sweep
    took, is left alone); running it again is safe because each document is stored once
    (``_issue`` returns the stored one), so the recovered batch's ZIP still holds all."""
    now = now or clock.now()
    cutoff = now - DOCUMENT_BATCH_STALE_AFTER
    quiet = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    stale = list(
        DocumentBatch.objects.filter(quiet, status=DocumentBatch.Status.RUNNING).order_by("pk")
    )
    # Before the running ones, so that a batch this sweep puts back waits a full period.
    requeued, failed = _batches_lost_in_queue(cutoff, now), 0
    for batch in stale:
        still_stale = DocumentBatch.objects.filter(
            quiet, pk=batch.pk, status=DocumentBatch.Status.RUNNING, attempts=batch.attempts
        )
        last_heard = batch.heartbeat_at.isoformat() if batch.heartbeat_at else None
        with transaction.atomic():
            if batch.attempts >= DOCUMENT_BATCH_MAX_ATTEMPTS:
                message = document_batch_gave_up_message(batch.attempts)
                if not still_stale.update(
                    status=DocumentBatch.Status.FAILED, error=message, finished_at=now
                ):
                    continue
                audit_record(
                    actor=None,
                    action="document_batch.fail",
                    object_type="document_batch",
                    object_id=batch.pk,
                    area_code=batch.township_code,
                    from_state=DocumentBatch.Status.RUNNING,
                    to_state=DocumentBatch.Status.FAILED,
                    reason=message,
                    changes={
                        "attempts": [None, batch.attempts],
                        "last_heartbeat": [None, last_heard],
                    },
                )
                failed += 1
                continue
            # The dead worker's task is not this batch's any more; the new one is noted
            # when the queue takes it.
            if not still_stale.update(
                status=DocumentBatch.Status.QUEUED, task_id="", enqueued_at=now
            ):
                continue
            _requeued(
                batch,
                from_state=DocumentBatch.Status.RUNNING,
                changes={"attempts": [None, batch.attempts], "last_heartbeat": [None, last_heard]},
            )
            requeued += 1
    return BatchRecovery(requeued=requeued, failed=failed)


def _batches_lost_in_queue(cutoff: datetime, now: datetime) -> int:
    """Enqueue again each batch queued before ``cutoff`` that no task will run; audited as
    ``document_batch.requeue`` with the reason. Of two sweeps, one does it: the change is
    conditional on the task the sweep looked at."""
    waiting = DocumentBatch.objects.filter(status=DocumentBatch.Status.QUEUED).filter(
        Q(enqueued_at__isnull=True, created_at__lt=cutoff) | Q(enqueued_at__lt=cutoff)
    )
    requeued = 0
    for batch in waiting.order_by("pk"):
        if not _batch_task_gone(batch.task_id):
            continue  # waiting its turn behind other work
        with transaction.atomic():
            if not DocumentBatch.objects.filter(
                pk=batch.pk,
                status=DocumentBatch.Status.QUEUED,
                task_id=batch.task_id,
                enqueued_at=batch.enqueued_at,
            ).update(task_id="", enqueued_at=now):
                continue
            _requeued(
                batch,
                from_state=DocumentBatch.Status.QUEUED,
                reason=_("No task was going to run this batch, so it was queued again."),
                changes={"task": [batch.task_id or None, None]},
            )
        requeued += 1
    return requeued


def _requeued(
    batch: DocumentBatch, *, from_state: str, changes: dict[str, Any], reason: str = ""
) -> None:
    """The audit entry of a batch the sweep put back in the queue, and its enqueue after the
    commit (inside the sweep's transaction for that batch)."""
    audit_record(
        actor=None,
        action="document_batch.requeue",
        object_type="document_batch",
        object_id=batch.pk,
        area_code=batch.township_code,
        from_state=from_state,
        to_state=DocumentBatch.Status.QUEUED,
        reason=reason,
        changes=changes,
    )
    transaction.on_commit(functools.partial(_enqueue_batch, batch.pk))
