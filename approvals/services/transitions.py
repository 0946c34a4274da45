"""Moving applications along their chain. One code path per step, whichever door it comes
through (API, page, flow node, timer, command): lock the row, check the state machine and the
rules, change, record the decision and the audit entry, commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from applications.chains import Step, chain_of, chains, step_names
from applications.lifecycle import Lifecycle, lifecycle_of
from applications.models import (
    Application,
    Program,
    StatusChange,
)
from applications.selectors import applications_visible_to
from approvals import hooks, policy
from approvals.models import Attachment, Decision, Objection
from approvals.selectors import (
    card_facts,
    has_loan_contract,
    has_signed_agreement,
    recused_from,
)
from approvals.services.access import MAX_REASON, _lock_for, access_refused
from audit.services import audit_record, audit_records, audit_refusal
from common import clock
from common.actors import Actor, person_or_none
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refusal, Refused, ServiceError
from common.rows import rows_update

S = Application.Status


def _needs_reason(name: str) -> bool:
    """Does a step of this name need a reason (in any chain that has it)?"""
    return any(name in chain.reason_required for chain in chains())


@dataclass
class _Refusal(Exception):
    error: Exception
    area_code: str
    from_state: str


# A step refused inside the caller's transaction (``application_step_within``): the caller
# rolls back, then records it (``audit_refusal``) and raises ``error``.
StepRefusal = _Refusal


def application_step_within(
    *,
    actor: Actor,
    application_id: int,
    name: str,
    reason: str = "",
    via_loan_desk: bool = False,
    changes: dict[str, Any] | None = None,
) -> Application:
    """``application_transition`` inside the caller's transaction, for a service that
    checks and writes more in it (the bank's loan desk): the same locks, checks and
    writes, but a refusal is raised as ``StepRefusal`` and recorded by the caller once its
    transaction has rolled back."""
    reason = (reason or "").strip()
    if _needs_reason(name) and not reason:
        raise InvalidInput(
            {"reason": [_("A reason is required to return or reject an application.")]},
            code=Code.REASON_REQUIRED,
        )
    return _transition_locked(
        actor=actor,
        application_id=application_id,
        name=name,
        reason=reason,
        now=clock.now(),
        via_objection=False,
        via_loan_desk=via_loan_desk,
        changes=changes,
    )


def application_transition(
    *,
    actor: Actor,
    application_id: int,
    name: str,
    reason: str = "",
    now: datetime | None = None,
    via_objection: bool = False,
    via_acceptance: bool = False,
    via_loan_desk: bool = False,
    changes: dict[str, Any] | None = None,
) -> Application:
    """Take one step of the chain.

    Guarantees: one transaction with the application row locked, so of two people acting at
    once exactly one succeeds and the other is refused (``Refused``); the step must leave
    the current state (state machine), the actor must hold the role for it in the
    application's area, and every rule of ``approvals.policy`` must pass; the decision and
    the audit entry are written in the same transaction. A refusal changes nothing and is
    itself recorded. ``actor=None`` is the system (the posting timer). ``via_loan_desk``:
    the bank's step comes from the loan desk (``loans.services.lending``), which checked
    its terms in the caller's transaction; ``changes``: what the audit entry records beside
    the status.
    """
    reason = (reason or "").strip()
    if name not in step_names():
        raise NotFound(_("No such step: %(name)s") % {"name": name[:40]}, code=Code.UNKNOWN_STEP)
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    if _needs_reason(name) and not reason:
        raise InvalidInput(
            {"reason": [_("A reason is required to return or reject an application.")]},
            code=Code.REASON_REQUIRED,
        )
    try:
        with transaction.atomic():
            return _transition_locked(
                actor=actor,
                application_id=application_id,
                name=name,
                reason=reason,
                now=now or clock.now(),
                via_objection=via_objection,
                via_acceptance=via_acceptance,
                via_loan_desk=via_loan_desk,
                changes=changes,
            )
    except _Refusal as refusal:
        audit_refusal(
            actor=actor,
            action=f"application.{name}",
            object_type="application",
            object_id=application_id,
            area_code=refusal.area_code,
            from_state=refusal.from_state,
            reason=str(refusal.error),
        )
        raise refusal.error from None
    except NotFound:
        if actor is not None:
            access_refused(actor=actor, application_id=application_id, action=f"application.{name}")
        raise


def _transition_locked(
    *,
    actor: Actor,
    application_id: int,
    name: str,
    reason: str,
    now: datetime,
    via_objection: bool,
    via_acceptance: bool = False,
    via_loan_desk: bool = False,
    confirmed_by_bank: bool = False,
    changes: dict[str, Any] | None = None,
) -> Application:
    app = _lock_for(actor, application_id, name, system=actor is None)
    lifecycle = lifecycle_of(app, actor)
    step = lifecycle.chain.step(name)
    from_state = app.status
    if step is None or not lifecycle.leaves_current_state(name):
        raise _Refusal(
            Refused(
                _("This step is not possible now: the application is %(status)s.")
                % {"status": app.get_status_display()},
                code=Code.WRONG_STATE,
            ),
            app.area_code,
            from_state,
        )
    if not lifecycle.method(name).has_perm(actor):
        raise _Refusal(
            Forbidden(_("Your role may not take this step here."), code=Code.ROLE),
            app.area_code,
            from_state,
        )
    if confirmed_by_bank:
        # The bank has paid: the rules of who may pay whom were checked when the round was
        # drawn up and approved, and the money has moved. What is left is to record it.
        return _transition_apply(
            actor=actor, app=app, lifecycle=lifecycle, step=step, reason=reason, changes=changes
        )
    open_objections = (
        app.objections.filter(status=Objection.Status.OPEN).count()
        if "no_open_objection" in step.rules
        else 0  # read by that rule alone
    )
    recused = actor is not None and recused_from(actor, household_id=app.household_id)
    refusal = policy.transition_refusal(
        name,
        app,
        actor,
        open_objections=open_objections,
        reason=reason,
        now=now,
        via_objection=via_objection,
        via_acceptance=via_acceptance,
        signed_agreement=step.pays and has_signed_agreement(app.pk),
        recused=recused,
        card=card_facts(app) if step.pays else None,
        via_loan_desk=via_loan_desk,
        loan_contract="loan_contract" in step.rules and has_loan_contract(app.pk),
        **_status_facts(app, step.rules),
    )
    if recused and refusal is not None:
        raise _Refusal(Forbidden(refusal.message, code=refusal.code), app.area_code, from_state)
    if refusal is None and step.commits_budget:
        # The program row is the budget's lock: two approvals cannot both spend its last yuan.
        # Its running ``committed`` total is raised below, in this transaction.
        budget, committed = (
            Program.objects.select_for_update(no_key=True)
            .values_list("budget", "committed")
            .get(pk=app.program_id)
        )
        refusal = policy.budget_refusal(budget, committed, app.amount)
    if refusal is not None:
        raise _Refusal(refusal.refused(), app.area_code, from_state)
    return _transition_apply(
        actor=actor, app=app, lifecycle=lifecycle, step=step, reason=reason, changes=changes
    )


def _status_facts(app: Application, rules: tuple[str, ...]) -> dict[str, Any]:
    """What the rules of an exit or a return read, when the step names them: the proposal's
    facts, and whether the head's signed confirmation of an exit is on the record."""
    facts: dict[str, Any] = {}
    if {"exit_facts", "risk_recorded"} & set(rules):
        facts["status_change"] = StatusChange.objects.filter(application=app).first()
    if "exit_confirmation" in rules:
        facts["exit_confirmation"] = Attachment.objects.filter(
            application=app, kind=Attachment.Kind.EXIT_CONFIRMATION
        ).exists()
    return facts


def _columns(app: Application) -> dict[str, Any]:
    """The application's column values, to save only what a step changed."""
    return {f.attname: getattr(app, f.attname) for f in Application._meta.concrete_fields}


def _transition_apply(
    *,
    actor: Actor,
    app: Application,
    lifecycle: Lifecycle,
    step: Step,
    reason: str,
    changes: dict[str, Any] | None,
) -> Application:
    """Take the step the checks allowed: the state machine, the budget, the decision, the
    audit entry and the process, in the caller's transaction."""
    name, from_state = step.name, app.status
    before = _columns(app)
    lifecycle.method(name)()
    if step.reason_required:
        app.last_reason = reason
    app.save(update_fields=[f for f, value in _columns(app).items() if before[f] != value])
    committed = lifecycle.chain.committed
    if (from_state in committed) != (app.status in committed):
        change = app.amount if app.status in committed else -app.amount
        Program.objects.filter(pk=app.program_id).update(committed=F("committed") + change)
    Decision.objects.create(
        application=app,
        transition=name,
        from_status=from_state,
        to_status=app.status,
        actor=person_or_none(actor),
        reason=reason,
    )
    hooks.notify_transition(app, name, from_state, actor)
    # Last: the entry locks the county's chain head until the commit, and every write of
    # the county waits for that lock, so it is held for as short a time as possible.
    audit_record(
        actor=actor,
        action=f"application.{name}",
        object_type="application",
        object_id=app.pk,
        area_code=app.area_code,
        from_state=from_state,
        to_state=app.status,
        reason=reason,
        changes=changes or {},
    )
    return app


def application_paid_by_bank(
    *, actor: Actor, application_id: int, changes: dict[str, Any]
) -> Application:
    """Record that the bank paid an application (a paid line of a payment round's return
    file): the chain's paying step, taken by the officer who imported the file, inside the
    caller's transaction, with ``changes`` (the line and the bank's transaction) on the
    record. Refused (``Refused``, ``wrong_state``) only when the application is not where a
    payment can take it."""
    app = Application.objects.select_related("program").filter(pk=application_id).first()
    if app is None:
        raise NotFound(_("No such application in your area."))
    step = next((s for s in chain_of(app).steps if s.pays), None)
    if step is None:
        raise Refused(_("This chain pays nobody."), code=Code.WRONG_STATE)
    try:
        return _transition_locked(
            actor=actor,
            application_id=application_id,
            name=step.name,
            reason="",
            now=clock.now(),
            via_objection=False,
            confirmed_by_bank=True,
            changes=changes,
        )
    except _Refusal as refusal:
        raise refusal.error from None


def applications_paid_by_bank(
    *, actor: Actor, payments: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """``application_paid_by_bank`` for many applications at once (the paid lines of one
    return file), inside the caller's transaction, in a few queries whatever their number:
    the rows locked together, each moved by its state machine, then saved, decided, recorded
    (``audit_records``) and followed by the process (``hooks.notify_transitions``)
    together. ``payments``: (application id, the changes its audit entry records). The same
    refusals as one by one, for the first application that cannot be paid; a step with an
    effect, or applications of several chains or states, are paid one by one."""
    if not payments:
        return
    changes = dict(payments)
    apps = list(
        Application.objects.select_for_update(no_key=True, of=("self",))
        .select_related("program")
        .filter(pk__in=list(changes))
        .order_by("pk")
    )
    if len(apps) != len(changes):
        raise NotFound(_("No such application in your area."))
    chain = chain_of(apps[0])
    step = next((s for s in chain.steps if s.pays), None)
    from_state = apps[0].status
    if (
        step is None
        or step.effect is not None
        or any(chain_of(a) is not chain or a.status != from_state for a in apps)
    ):
        for app in apps:
            application_paid_by_bank(actor=actor, application_id=app.pk, changes=changes[app.pk])
        return
    allowed: dict[str, bool] = {}
    for app in apps:
        lifecycle = lifecycle_of(app, actor)
        if not lifecycle.leaves_current_state(step.name):
            raise Refused(
                _("This step is not possible now: the application is %(status)s.")
                % {"status": app.get_status_display()},
                code=Code.WRONG_STATE,
            )
        if app.area_code not in allowed:
            allowed[app.area_code] = lifecycle.method(step.name).has_perm(actor)
        if not allowed[app.area_code]:
            raise Forbidden(_("Your role may not take this step here."), code=Code.ROLE)
        lifecycle.method(step.name)()
    fields = ["status", "status_changed_at", *([step.records_actor] if step.records_actor else [])]
    rows_update(apps, fields)
    moved: dict[int, Decimal] = {}
    for app in apps:
        if (from_state in chain.committed) != (app.status in chain.committed):
            change = app.amount if app.status in chain.committed else -app.amount
            moved[app.program_id] = moved.get(app.program_id, Decimal("0")) + change
    for program_id, change in moved.items():
        Program.objects.filter(pk=program_id).update(committed=F("committed") + change)
    decider = person_or_none(actor)
    Decision.objects.bulk_create(
        [
            Decision(
                application=app,
                transition=step.name,
                from_status=from_state,
                to_status=app.status,
                actor=decider,
                reason="",
            )
            for app in apps
        ],
        batch_size=1000,
    )
    hooks.notify_transitions(apps, step.name, from_state, actor)
    audit_records(  # last, as in _transition_apply
        actor=actor,
        entries=[
            {
                "action": f"application.{step.name}",
                "object_type": "application",
                "object_id": app.pk,
                "area_code": app.area_code,
                "from_state": from_state,
                "to_state": app.status,
                "changes": changes[app.pk],
            }
            for app in apps
        ],
    )


def application_rejected_after_acceptance(
    *, actor: Actor, application_id: int, reason: str
) -> Application:
    """The county's rejection of an approved application whose work failed acceptance
    (先建后补), inside the caller's transaction: the caller (``payments``) has locked the
    application and found the failed acceptance. The chain's ``reject`` step with every
    other rule checked; a refusal raises its error (the caller's transaction rolls back)."""
    try:
        return _transition_locked(
            actor=actor,
            application_id=application_id,
            name="reject",
            reason=reason,
            now=clock.now(),
            via_objection=False,
            via_acceptance=True,
        )
    except _Refusal as refusal:
        raise refusal.error from None


def approval_step(application: Application) -> str | None:
    """The approval the application waits for in its current status (the state machine's
    answer: the township's in township review, the county's in county review), or None."""
    lifecycle = lifecycle_of(application)
    return next(
        (name for name in lifecycle.chain.approvals if lifecycle.leaves_current_state(name)),
        None,
    )


def transition_refusals(app: Application, user: Actor, *, open_objections: int) -> list[Refusal]:
    """Why this user may not take the steps their role would allow on this application
    now (a rule refuses, or they are recused): what a page says instead of "nothing to do".
    Empty when the user's role takes no step in this state."""
    lifecycle = lifecycle_of(app, user)
    chain = chain_of(app)
    names = [
        n
        for n in lifecycle.chain.names
        if not chain.steps_by_name[n].pays and lifecycle.allowed_by_role(n, user)
    ]
    if names and recused_from(user, household_id=app.household_id):
        return [policy.recusal_refusal()]
    now = clock.now()
    out: list[Refusal] = []
    for name in names:
        refusal = policy.transition_refusal(
            name,
            app,
            user,
            open_objections=open_objections,
            reason="-",
            now=now,
            **_status_facts(app, chain.steps_by_name[name].rules),
        )
        if refusal is not None and refusal not in out:
            out.append(refusal)
    return out


def available_transitions(
    app: Application,
    user: Actor,
    *,
    open_objections: int | None = None,
    by_role: dict[tuple[str, str, str], list[str]] | None = None,
    declared_hashes: frozenset[str] | None = None,
    recused: bool | None = None,
) -> list[str]:
    """The steps this user may take on this application now (state, role and rules; the
    budget is checked when the step is taken). None when the user is recused from it, and
    never a paying step: that one is the bank's confirmation of a payment round's line
    (``payments``), not a person's button.

    ``by_role``: a dict kept across the calls for one user (one page of a list), where the
    steps the state machine and the user's roles allow are remembered per state and area:
    they depend on nothing else, and working them out is most of the cost of a row.
    ``declared_hashes``: the user's ``recusing_hashes``, likewise worked out once;
    ``recused``: whether the user is recused from it, when already known for a whole page
    (``applications_recused``)."""
    chain = chain_of(app)
    key = (chain.key, app.status, app.area_code)
    names = by_role.get(key) if by_role is not None else None
    if names is None:
        lifecycle = lifecycle_of(app, user)
        names = [
            n
            for n in lifecycle.chain.names
            if not chain.steps_by_name[n].pays and lifecycle.allowed_by_role(n, user)
        ]
        if by_role is not None:
            by_role[key] = names
    if not names:
        return []
    if recused is None:
        recused = recused_from(user, household_id=app.household_id, declared_hashes=declared_hashes)
    if recused:
        return []
    if open_objections is None:
        annotated = getattr(app, "open_objections", None)
        open_objections = (
            annotated
            if annotated is not None
            else app.objections.filter(status=Objection.Status.OPEN).count()
        )
    now = clock.now()
    return [
        n
        for n in names
        if policy.transition_refusal(
            n,
            app,
            user,
            open_objections=open_objections,
            reason="-",
            now=now,
            **_status_facts(app, chain.steps_by_name[n].rules),
        )
        is None
    ]


def with_open_objections(qs: QuerySet[Application]) -> QuerySet[Application]:
    # A correlated subquery, not a join with GROUP BY: the database then counts objections
    # only for the page it returns, and a list stays as fast at 100k rows as at 10k.
    open_count = (
        Objection.objects.filter(application=OuterRef("pk"), status=Objection.Status.OPEN)
        .order_by()
        .values("application")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        open_objections=Coalesce(Subquery(open_count, output_field=IntegerField()), 0)
    )


def posting_close_if_due(*, application_id: int, now: datetime | None = None) -> bool:
    """Close one posting if its window has passed and nothing is open. Idempotent."""
    now = now or clock.now()
    due = (
        Application.objects.filter(pk=application_id, status=S.POSTED, posting_ends_at__lte=now)
        .exclude(objections__status=Objection.Status.OPEN)
        .exists()
    )
    if not due:
        return False
    try:
        application_transition(
            actor=None, application_id=application_id, name="close_posting", now=now
        )
    except Refused:
        return False
    return True


def postings_close_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Close every posting whose window has passed and that has no open objection (the
    timer). Safe to run concurrently and repeatedly: each close locks its row."""
    now = now or clock.now()
    due = list(
        Application.objects.filter(status=S.POSTED, posting_ends_at__lte=now)
        .exclude(objections__status=Objection.Status.OPEN)
        .order_by("posting_ends_at")
        .values_list("pk", flat=True)[:limit]
    )
    closed = 0
    for pk in due:
        try:
            application_transition(actor=None, application_id=pk, name="close_posting", now=now)
            closed += 1
        except (Refused, NotFound):
            continue  # someone else closed it, or an objection arrived meanwhile
    return closed


# The pseudo-step of a bulk approval: each application takes the approval it awaits.
APPROVE = "approve"
MAX_BULK = 200


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one application of a bulk transition: done, or refused with the
    refusal's code and message."""

    application_id: int
    head_name: str
    done: bool
    code: Code | None = None
    message: str = ""


def applications_bulk_transition(
    *, actor: Actor, ids: Sequence[int], name: str, reason: str = ""
) -> list[BulkOutcome]:
    """Take one step on each of several applications, each in its own transaction through
    ``application_transition``: every item passes every guard on its own, one refusal stops
    nothing else, and each is recorded as if taken alone. ``name`` is a step, or
    ``"approve"`` for the approval each application awaits (the township's or the county's).

    Guarantees: ids are taken once each, in the order given, at most ``MAX_BULK``;
    an application outside the actor's area is refused as not found (recorded), never
    named; the answer has one outcome per distinct id, in order."""
    if name != APPROVE and name not in step_names():
        raise NotFound(_("No such step: %(name)s") % {"name": name[:40]}, code=Code.UNKNOWN_STEP)
    unique = list(dict.fromkeys(int(pk) for pk in ids))
    if not unique:
        raise InvalidInput({"ids": [_("Select at least one application.")]})
    if len(unique) > MAX_BULK:
        raise InvalidInput(
            {"ids": [_("At most %(max)d applications at once.") % {"max": MAX_BULK}]}
        )
    apps = {
        a.pk: a
        for a in applications_visible_to(actor)
        .select_related("household", "program")
        .filter(pk__in=unique)
    }
    action = f"application.{name}"
    outcomes: list[BulkOutcome] = []
    for pk in unique:
        app = apps.get(pk)
        if app is None:
            access_refused(actor=actor, application_id=pk, action=action)
            outcomes.append(
                BulkOutcome(pk, "", False, Code.NOT_FOUND, _("No such application in your area."))
            )
            continue
        step = approval_step(app) if name == APPROVE else name
        if step is None:
            outcomes.append(
                BulkOutcome(
                    pk,
                    app.household.head_name,
                    False,
                    Code.WRONG_STATE,
                    _("This step is not possible now: the application is %(status)s.")
                    % {"status": app.get_status_display()},
                )
            )
            continue
        try:
            application_transition(actor=actor, application_id=pk, name=step, reason=reason)
        except ServiceError as error:
            outcomes.append(
                BulkOutcome(pk, app.household.head_name, False, error.code, error.message)
            )
        else:
            outcomes.append(BulkOutcome(pk, app.household.head_name, True))
    return outcomes
