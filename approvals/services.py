"""Filing applications and moving them along the chain. One code path per step, whichever
door it comes through (API, page, flow node, timer, command): lock the row, check the state
machine and the rules, change, record the decision and the audit entry, commit."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from applications.chains import chain_for_kind, chain_of, chains, step_names
from applications.lifecycle import lifecycle_of
from applications.models import (
    Application,
    ApplicationItem,
    Program,
    ProgramItem,
    ProgramVersion,
)
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import (
    applications_visible_to,
    has_role_in,
    households_visible_to,
    is_everywhere,
    programs_visible_to,
    roles_in,
)
from applications.services import kin_flags_detect, program_version_current
from approvals import hooks, policy
from approvals.models import Attachment, CardCheck, Decision, Objection
from approvals.selectors import (
    card_facts,
    has_signed_agreement,
    recused_from,
)
from audit.services import audit_record, audit_refusal, model_changes
from common import clock
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.money import to_fen

S = Application.Status
READ_ONLY_ROLES = frozenset({Role.INSPECTOR, REVEAL_PERMISSION})
MAX_REASON = 2000
MAX_OBJECTION = 2000


def _application_snapshot(app: Application, lines: Iterable[ApplicationItem]) -> dict[str, Any]:
    return {
        "household": app.household_id,
        "program": app.program_id,
        "program_version": app.program_version_id,
        "status": app.status,
        "amount": app.amount,
        "items": sorted(f"{line.item.code}×{line.quantity}@{line.unit_amount}" for line in lines),
    }


def _resolve_items(
    version_items: Mapping[str, ProgramItem], items: Iterable[Mapping[str, Any]]
) -> list[tuple[ProgramItem, int]]:
    errors: dict[str, list[str]] = {}
    lines: list[tuple[ProgramItem, int]] = []
    seen: set[str] = set()
    items = list(items or [])
    if not items:
        raise InvalidInput({"items": [_("Choose at least one item.")]})
    for i, raw in enumerate(items):
        code = str(raw.get("item", ""))
        item = version_items.get(code)
        if item is None:
            errors[f"items[{i}].item"] = [_("Unknown item: %(code)s") % {"code": code[:40]}]
            continue
        if code in seen:
            errors[f"items[{i}].item"] = [_("Each item appears once; change its quantity.")]
            continue
        seen.add(code)
        try:
            quantity = int(raw.get("quantity", 0))
            if str(raw.get("quantity")).strip() not in (str(quantity), f"{quantity}.0"):
                raise ValueError
        except (TypeError, ValueError):
            errors[f"items[{i}].quantity"] = [_("The quantity is a whole number.")]
            continue
        if quantity < 1:
            errors[f"items[{i}].quantity"] = [_("The quantity must be at least 1.")]
            continue
        if item.max_quantity is not None and quantity > item.max_quantity:
            errors[f"items[{i}].quantity"] = [
                _("At most %(max)s for this item.") % {"max": item.max_quantity}
            ]
            continue
        lines.append((item, quantity))
    if errors:
        raise InvalidInput(errors)
    return lines


def _already_received(household_id: int, program_id: int, exclude: int | None = None) -> Decimal:
    qs = Application.objects.filter(
        household_id=household_id,
        program_id=program_id,
        status__in=[S.APPROVED, S.DISBURSED],
    )
    if exclude:
        qs = qs.exclude(pk=exclude)
    return qs.aggregate(total=Sum("amount"))["total"] or Decimal("0")


def subsidy_available(
    *, household_id: int, version: ProgramVersion, exclude: int | None = None
) -> Decimal:
    """What the household may still receive from the version's program under its
    parameters: the household cap less what its approved and paid applications of the
    program received (``exclude``: an application being changed, not counted). The cap
    every filing and change is checked against, and the pages' preview of it."""
    received = _already_received(household_id, version.program_id, exclude)
    return policy.subsidy_cap(version, received)


def _check_cap(
    version: ProgramVersion, amount: Decimal, household_id: int, exclude: int | None = None
) -> None:
    cap = subsidy_available(household_id=household_id, version=version, exclude=exclude)
    if amount > cap:
        raise InvalidInput(
            {
                "items": [
                    _("The amount %(amount)s yuan is over this household's cap of %(cap)s yuan.")
                    % {"amount": amount, "cap": cap}
                ]
            },
            code=Code.OVER_CAP,
        )


def _refuse_if_recused(
    *, actor: Any, household_id: int, area_code: str, action: str, object_type: str, object_id: Any
) -> None:
    """Conflict of interest (DOMAIN rule 4): an official recused from the household's
    applications may not handle them; the refusal is recorded."""
    if recused_from(actor, household_id=household_id):
        refusal = policy.recusal_refusal()
        audit_refusal(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            area_code=area_code,
            reason=refusal.message,
        )
        raise Forbidden(refusal.message, code=refusal.code)


def application_create(
    *,
    actor: Any,
    household_id: int,
    program_id: int,
    items: Iterable[Mapping[str, Any]],
) -> Application:
    """File a draft application on a household's behalf.

    Guarantees: the household is in the actor's village(s) and eligible; the actor is not
    recused from it (``Forbidden``, recorded); the amount is computed from the items of
    the parameters in force today and is within the household cap; at most one active
    application per household and program; audited; a conflict of interest of another
    official of the area is flagged at once (``kin_flags_detect``).
    """
    household = households_visible_to(actor).filter(pk=household_id).first()
    if household is None or not has_role_in(actor, Role.VILLAGE_CADRE, household.area_code):
        raise InvalidInput({"household": [_("No such household in your village.")]})
    _refuse_if_recused(
        actor=actor,
        household_id=household.pk,
        area_code=household.area_code,
        action="application.create",
        object_type="household",
        object_id=household.pk,
    )
    if not policy.household_eligible(household):
        raise InvalidInput(
            {"household": [_("Only registered or returned-to-poverty households may apply.")]}
        )
    program = programs_visible_to(actor).filter(pk=program_id, active=True).first()
    if program is None or program.area_id[:6] != household.area_code[:6]:
        raise InvalidInput({"program": [_("No such program in your county.")]})
    if chain_for_kind(program.kind) is None:
        raise InvalidInput({"program": [_("Loan applications are not open yet.")]})
    version = program_version_current(program)
    lines = _resolve_items({i.code: i for i in version.items.all()}, items)
    amount = policy.items_amount(lines)
    _check_cap(version, amount, household.pk)
    try:
        with transaction.atomic():
            app = Application.objects.create(
                household=household,
                program=program,
                program_version=version,
                area_code=household.area_code,
                amount=amount,
                created_by=actor,
            )
            rows = ApplicationItem.objects.bulk_create(
                [
                    ApplicationItem(
                        application=app,
                        item=item,
                        quantity=qty,
                        unit_amount=item.unit_amount,
                        amount=to_fen(item.unit_amount * qty),
                    )
                    for item, qty in lines
                ]
            )
            audit_record(
                actor=actor,
                action="application.create",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                to_state=app.status,
                changes=model_changes(None, _application_snapshot(app, rows)),
            )
            kin_flags_detect(actor=actor, application_ids=[app.pk])
            hooks.notify_created(app, actor)
    except IntegrityError:
        raise InvalidInput(
            {"household": [_("This household already has an active application for this program.")]}
        ) from None
    return app


def _needs_reason(name: str) -> bool:
    """Does a step of this name need a reason (in any chain that has it)?"""
    return any(name in chain.reason_required for chain in chains())


def _lock_for(actor: Any, application_id: int, action: str, *, system: bool = False) -> Application:
    qs = Application.objects.all() if system else applications_visible_to(actor)
    app = (
        qs.select_for_update(of=("self",))
        .select_related("household", "program", "program_version")
        .filter(pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    return app


def application_edit(
    *,
    actor: Any,
    application_id: int,
    items: Iterable[Mapping[str, Any]] | None = None,
    appraisal_date: date | None = None,
    appraisal_attendees: int | None = None,
    appraisal_votes_for: int | None = None,
    appraisal_votes_against: int | None = None,
) -> Application:
    """Change the items or record the democratic appraisal, while the application is a
    draft or returned for correction. Field-by-field audit."""
    household_id, area_code = _household_and_area(actor, application_id, "application.edit")
    _refuse_if_recused(
        actor=actor,
        household_id=household_id,
        area_code=area_code,
        action="application.edit",
        object_type="application",
        object_id=application_id,
    )
    with transaction.atomic():
        app = _lock_for(actor, application_id, "application.edit")
        if not has_role_in(actor, Role.VILLAGE_CADRE, app.area_code):
            raise Forbidden(_("Only the village cadre edits an application."))
        if not policy.is_editable(app):
            raise Refused(
                _("Only a draft or returned application can be changed."), code=Code.NOT_EDITABLE
            )
        old_lines = list(app.items.select_related("item"))
        before = _application_snapshot(app, old_lines) | _appraisal(app)
        lines = old_lines
        if items is not None:
            version = app.program_version
            resolved = _resolve_items({i.code: i for i in version.items.all()}, items)
            amount = policy.items_amount(resolved)
            _check_cap(version, amount, app.household_id, exclude=app.pk)
            app.items.all().delete()
            lines = ApplicationItem.objects.bulk_create(
                [
                    ApplicationItem(
                        application=app,
                        item=item,
                        quantity=qty,
                        unit_amount=item.unit_amount,
                        amount=to_fen(item.unit_amount * qty),
                    )
                    for item, qty in resolved
                ]
            )
            app.amount = amount
        if appraisal_date is not None:
            if appraisal_date > clock.today():
                raise InvalidInput({"appraisal_date": [_("The meeting date is in the future.")]})
            app.appraisal_date = appraisal_date
        if appraisal_attendees is not None:
            app.appraisal_attendees = appraisal_attendees
            app.appraisal_votes_for = appraisal_votes_for or 0
            app.appraisal_votes_against = appraisal_votes_against or 0
            if app.appraisal_votes_for + app.appraisal_votes_against > appraisal_attendees:
                raise InvalidInput({"appraisal_votes_for": [_("More votes than attendees.")]})
        app.save()
        changes = model_changes(before, _application_snapshot(app, lines) | _appraisal(app))
        if changes:
            audit_record(
                actor=actor,
                action="application.update",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                changes=changes,
            )
    return app


def _appraisal(app: Application) -> dict[str, Any]:
    return {
        "appraisal_date": app.appraisal_date,
        "appraisal_attendees": app.appraisal_attendees,
        "appraisal_votes_for": app.appraisal_votes_for,
        "appraisal_votes_against": app.appraisal_votes_against,
    }


@dataclass
class _Refusal(Exception):
    error: Exception
    area_code: str
    from_state: str


def application_transition(
    *,
    actor: Any,
    application_id: int,
    name: str,
    reason: str = "",
    now: datetime | None = None,
    via_objection: bool = False,
) -> Application:
    """Take one step of the chain.

    Guarantees: one transaction with the application row locked, so of two people acting at
    once exactly one succeeds and the other is refused (``Refused``); the step must leave
    the current state (state machine), the actor must hold the role for it in the
    application's area, and every rule of ``approvals.policy`` must pass; the decision and
    the audit entry are written in the same transaction. A refusal changes nothing and is
    itself recorded. ``actor=None`` is the system (the posting timer).
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
    *, actor: Any, application_id: int, name: str, reason: str, now: datetime, via_objection: bool
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
    open_objections = app.objections.filter(status=Objection.Status.OPEN).count()
    recused = actor is not None and recused_from(actor, household_id=app.household_id)
    refusal = policy.transition_refusal(
        name,
        app,
        actor,
        open_objections=open_objections,
        reason=reason,
        now=now,
        via_objection=via_objection,
        signed_agreement=step.pays and has_signed_agreement(app.pk),
        recused=recused,
        card=card_facts(app) if step.pays else None,
    )
    if recused and refusal is not None:
        raise _Refusal(Forbidden(refusal.message, code=refusal.code), app.area_code, from_state)
    if refusal is None and step.commits_budget:
        # The program row is the budget's lock: two approvals cannot both spend its last yuan.
        # Its running ``committed`` total is raised below, in this transaction.
        budget, committed = (
            Program.objects.select_for_update()
            .values_list("budget", "committed")
            .get(pk=app.program_id)
        )
        refusal = policy.budget_refusal(budget, committed, app.amount)
    if refusal is not None:
        raise _Refusal(refusal.refused(), app.area_code, from_state)
    lifecycle.method(name)()
    if step.reason_required:
        app.last_reason = reason
    app.save()
    if step.commits_budget:
        Program.objects.filter(pk=app.program_id).update(committed=F("committed") + app.amount)
    Decision.objects.create(
        application=app,
        transition=name,
        from_status=from_state,
        to_status=app.status,
        actor=actor,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action=f"application.{name}",
        object_type="application",
        object_id=app.pk,
        area_code=app.area_code,
        from_state=from_state,
        to_state=app.status,
        reason=reason,
    )
    hooks.notify_transition(app, name, from_state, actor)
    return app


def approval_step(application: Application) -> str | None:
    """The approval the application waits for in its current status (the state machine's
    answer: the township's in township review, the county's in county review), or None."""
    lifecycle = lifecycle_of(application)
    return next(
        (name for name in lifecycle.chain.approvals if lifecycle.leaves_current_state(name)),
        None,
    )


def access_refused(*, actor: Any, application_id: int, action: str = "application.view") -> None:
    """Record an attempt to reach an application outside the actor's area (if it exists:
    probing ids that exist nowhere leaves nothing to attach the entry to)."""
    area = Application.objects.filter(pk=application_id).values_list("area_code", flat=True).first()
    if area is not None:
        audit_refusal(
            actor=actor,
            action=action,
            object_type="application",
            object_id=application_id,
            area_code=area,
            reason="out of scope",
        )


def available_transitions(
    app: Application,
    user: Any,
    *,
    open_objections: int | None = None,
    by_role: dict[tuple[str, str, str], list[str]] | None = None,
    declared_hashes: frozenset[str] | None = None,
    payment: Callable[[Application], tuple[bool, policy.CardFacts]] | None = None,
) -> list[str]:
    """The steps this user may take on this application now (state, role and rules; the
    budget is checked when the step is taken). None when the user is recused from it.

    ``by_role``: a dict kept across the calls for one user (one page of a list), where the
    steps the state machine and the user's roles allow are remembered per state and area:
    they depend on nothing else, and working them out is most of the cost of a row.
    ``declared_hashes``: the user's ``recusing_hashes``, likewise worked out once.
    ``payment``: gives the signed-agreement flag and ``card_facts`` of an application, read
    for a whole page at once (``card_facts_of``, ``signed_agreements_of``)."""
    chain = chain_of(app)
    key = (chain.key, app.status, app.area_code)
    names = by_role.get(key) if by_role is not None else None
    if names is None:
        lifecycle = lifecycle_of(app, user)
        names = [n for n in lifecycle.chain.names if lifecycle.allowed_by_role(n, user)]
        if by_role is not None:
            by_role[key] = names
    if not names:
        return []
    if recused_from(user, household_id=app.household_id, declared_hashes=declared_hashes):
        return []
    if open_objections is None:
        annotated = getattr(app, "open_objections", None)
        open_objections = (
            annotated
            if annotated is not None
            else app.objections.filter(status=Objection.Status.OPEN).count()
        )
    now = clock.now()
    signed, card = False, None
    if any(chain.steps_by_name[n].pays for n in names):
        signed, card = (
            payment(app) if payment is not None else (has_signed_agreement(app.pk), card_facts(app))
        )
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
            signed_agreement=signed,
            card=card,
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


# --- objections --------------------------------------------------------------------------


def objection_raise(
    *,
    actor: Any,
    application_id: int,
    text: str,
    raised_by_name: str = "",
    contact: str = "",
    public: bool = False,
) -> Objection:
    """Raise an objection during posting. ``public=True`` is the notice board: anyone,
    anonymous allowed, only for applications in posting. Audited."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": [_("Write what the objection is about.")]})
    if len(text) > MAX_OBJECTION:
        raise InvalidInput({"text": [_("An objection has at most 2000 characters.")]})
    if len(raised_by_name) > 50 or len(contact) > 50:
        raise InvalidInput({"raised_by_name": [_("A name or contact has at most 50 characters.")]})
    if not public:
        area_code = (
            applications_visible_to(actor)
            .filter(pk=application_id)
            .values_list("area_code", flat=True)
            .first()
        )
        if area_code is None:
            access_refused(actor=actor, application_id=application_id, action="objection.raise")
            raise NotFound(_("No such application in your area."))
        # An inspector reads everything and changes nothing: a role that acts is needed.
        if not is_everywhere(actor) and not roles_in(actor, area_code) - READ_ONLY_ROLES:
            audit_refusal(
                actor=actor,
                action="objection.raise",
                object_type="application",
                object_id=application_id,
                area_code=area_code,
                reason="read-only role",
            )
            raise Forbidden(_("Your role may not take this step here."), code=Code.ROLE)
    with transaction.atomic():
        qs = Application.objects.all() if public else applications_visible_to(actor)
        app = qs.select_for_update(of=("self",)).filter(pk=application_id).first()
        if app is None:
            raise NotFound(_("No such application in your area."))
        refusal = policy.objection_refusal(app)
        if refusal is not None:
            raise refusal.refused()
        objection = Objection.objects.create(
            application=app,
            text=text,
            raised_by=actor if getattr(actor, "is_authenticated", False) else None,
            raised_by_name=raised_by_name.strip(),
            contact=contact.strip(),
        )
        audit_record(
            actor=actor,
            action="objection.raise",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={"objection": [None, str(objection.pk)], "text": [None, text]},
        )
    return objection


def objection_resolve(*, actor: Any, objection_id: int, upheld: bool, reason: str) -> Objection:
    """A township reviewer resolves an objection: upheld rejects the application, dismissed
    lets it go on (and closes the posting at once when its window has passed and nothing
    else is open)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Give the reason for the resolution.")]})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    application_id = (
        Objection.objects.filter(pk=objection_id).values_list("application_id", flat=True).first()
    )
    scoped = (
        applications_visible_to(actor)
        .filter(pk=application_id)
        .values_list("household_id", "area_code")
        .first()
        if application_id is not None
        else None
    )
    if application_id is not None and scoped is None:
        access_refused(actor=actor, application_id=application_id, action="objection.resolve")
        raise NotFound(_("No such objection in your area."))
    if scoped is not None:
        _refuse_if_recused(
            actor=actor,
            household_id=scoped[0],
            area_code=scoped[1],
            action="objection.resolve",
            object_type="application",
            object_id=application_id,
        )
    with transaction.atomic():
        found = (
            Objection.objects.filter(
                pk=objection_id, application__in=applications_visible_to(actor)
            )
            .values_list("application_id", flat=True)
            .first()
        )
        if found is None:
            raise NotFound(_("No such objection in your area."))
        # Lock order everywhere: the application first, then what hangs off it.
        app = _lock_for(actor, found, "objection.resolve")
        objection = Objection.objects.select_for_update().get(pk=objection_id)
        if not has_role_in(actor, Role.TOWNSHIP_REVIEWER, app.area_code):
            raise Forbidden(_("Only a township reviewer resolves objections."))
        if objection.status != Objection.Status.OPEN:
            raise Refused(_("This objection is already resolved."), code=Code.OBJECTION_RESOLVED)
        objection.status = Objection.Status.UPHELD if upheld else Objection.Status.DISMISSED
        objection.resolved_by = actor
        objection.resolved_at = clock.now()
        objection.resolution_reason = reason
        objection.save()
        audit_record(
            actor=actor,
            action="objection.resolve",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={"objection": [str(objection.pk), objection.status]},
            reason=reason,
        )
        if upheld:
            _transition_locked(
                actor=actor,
                application_id=app.pk,
                name="reject",
                reason=reason,
                now=clock.now(),
                via_objection=True,
            )
    if not upheld:
        posting_close_if_due(application_id=app.pk)
    return objection


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


# --- attachments ---------------------------------------------------------------------------

MAX_ATTACHMENT = 10 * 1024 * 1024
ATTACHMENT_ROLES = (Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER)
# What a file is, from its first bytes, never from its name: (magic, content type, suffix).
FILE_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """The content type and file suffix of a PDF, JPEG or PNG, by its magic bytes."""
    for magic, content_type, suffix in FILE_SIGNATURES:
        if head.startswith(magic):
            return content_type, suffix
    return None


def _read_limited(file: Any, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to know a file is too large without reading it
    all into memory."""
    if hasattr(file, "seek"):
        file.seek(0)
    chunks: list[bytes] = []
    total = 0
    source = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(65536), b"")
    for chunk in source:
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            break
    return b"".join(chunks)


def _household_and_area(actor: Any, application_id: int, action: str) -> tuple[int, str]:
    """The household and area code of an application in the actor's area; ``NotFound``
    (the attempt recorded as ``action``) otherwise."""
    found = (
        applications_visible_to(actor)
        .filter(pk=application_id)
        .values_list("household_id", "area_code")
        .first()
    )
    if found is None:
        access_refused(actor=actor, application_id=application_id, action=action)
        raise NotFound(_("No such application in your area."))
    return int(found[0]), str(found[1])


def attachment_add(*, actor: Any, application_id: int, kind: str, file: Any) -> Attachment:
    """Attach a file (a PDF, JPEG or PNG of at most 10 MB) to an application's record.

    Guarantees: the application is in the actor's area (else ``NotFound``, recorded) and the
    actor is its village cadre or township reviewer (else ``Forbidden``); the type is read
    from the file's first bytes, not its name; the file is stored and the row and the audit
    entry (with the file's SHA-256) are written in one transaction; bad input changes
    nothing."""
    if kind not in Attachment.Kind.values:
        raise InvalidInput({"kind": [_("Choose what the file is.")]})
    household_id, area_code = _household_and_area(actor, application_id, "attachment.add")
    if not any(has_role_in(actor, role, area_code) for role in ATTACHMENT_ROLES):
        raise Forbidden(
            _("Only the village cadre or the township reviewer uploads files."), code=Code.ROLE
        )
    _refuse_if_recused(
        actor=actor,
        household_id=household_id,
        area_code=area_code,
        action="attachment.add",
        object_type="application",
        object_id=application_id,
    )
    if file is None:
        raise InvalidInput({"file": [_("Choose a file to upload.")]})
    size = getattr(file, "size", None)
    if size is not None and size > MAX_ATTACHMENT:
        raise InvalidInput({"file": [_("The file is too large: at most 10 MB.")]})
    data = _read_limited(file, MAX_ATTACHMENT)
    if not data:
        raise InvalidInput({"file": [_("The file is empty.")]})
    if len(data) > MAX_ATTACHMENT:
        raise InvalidInput({"file": [_("The file is too large: at most 10 MB.")]})
    sniffed = sniff_content_type(data[:16])
    if sniffed is None:
        raise InvalidInput({"file": [_("Only PDF, JPEG or PNG files can be uploaded.")]})
    content_type, suffix = sniffed
    digest = hashlib.sha256(data).hexdigest()
    original_name = os.path.basename(str(getattr(file, "name", "") or ""))[:200] or "upload"
    # Files are not transactional: written first, removed again when the row does not
    # commit, so a row always has its file.
    name = default_storage.save(
        f"attachments/{application_id}/{kind}-{digest[:16]}{suffix}", ContentFile(data)
    )
    try:
        with transaction.atomic():
            app = _lock_for(actor, application_id, "attachment.add")
            attachment = Attachment.objects.create(
                application=app,
                kind=kind,
                file=name,
                original_name=original_name,
                content_type=content_type,
                size=len(data),
                sha256=digest,
                uploaded_by=actor,
            )
            audit_record(
                actor=actor,
                action="attachment.add",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                changes={
                    "attachment": [None, str(attachment.pk)],
                    "kind": [None, kind],
                    "sha256": [None, digest],
                    "size": [None, len(data)],
                    "content_type": [None, content_type],
                },
            )
    except BaseException:
        default_storage.delete(name)
        raise
    return attachment


# --- bank card checks (DOMAIN rule 5) -------------------------------------------------------

CARD_CHECK_ROLES = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)


def is_card_checker(user: Any, area_code: str) -> bool:
    """Does the user record card checks there (a county approver or finance officer)?"""
    return any(has_role_in(user, role, area_code) for role in CARD_CHECK_ROLES)


def card_check_allowed(
    user: Any,
    application: Application,
    *,
    card: policy.CardFacts,
    recused: bool,
    now: datetime,
) -> bool:
    """Would ``card_check_record`` take the user's check of the application now (a reason
    given)? ``card`` is its ``card_facts``, ``recused`` ``recused_from`` for the user: the
    page offers the check by the rules the service applies."""
    return (
        not recused
        and is_card_checker(user, application.area_code)
        and policy.card_check_refusal(application, card, now=now) is None
    )


def card_check_record(*, actor: Any, application_id: int, reason: str) -> CardCheck:
    """A county officer records the check of the bank card a held payment would go to (a
    card shared with another household, or changed shortly before the payment), releasing
    the hold.

    Guarantees: a reason (what was checked, with whom); the application is in the actor's
    area (else ``NotFound``, recorded); the actor is a county approver or finance officer
    there and not recused from it (else ``Forbidden``, recorded); the application is
    approved and its payment held (else ``Refused``); the check is tied to the card on
    record (a later change of card holds the payment again) and to its checker, who may
    then not pay it (separation of duties); one transaction with its audit entry."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Say what was checked, and with whom.")]})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    household_id, area_code = _household_and_area(actor, application_id, "application.card_check")
    if not is_card_checker(actor, area_code):
        audit_refusal(
            actor=actor,
            action="application.card_check",
            object_type="application",
            object_id=application_id,
            area_code=area_code,
            reason="no county approver or finance officer role here",
        )
        raise Forbidden(
            _("Only a county approver or finance officer records a card check."), code=Code.ROLE
        )
    _refuse_if_recused(
        actor=actor,
        household_id=household_id,
        area_code=area_code,
        action="application.card_check",
        object_type="application",
        object_id=application_id,
    )
    with transaction.atomic():
        app = _lock_for(actor, application_id, "application.card_check")
        card, now = card_facts(app), clock.now()
        refusal = policy.card_check_refusal(app, card, now=now)
        if refusal is not None:
            raise refusal.refused()
        holds = policy.payment_holds(card, now=now)
        household = app.household
        check = CardCheck.objects.create(
            application=app,
            bank_card_hash=household.bank_card_hash,
            bank_card_masked=household.bank_card_masked,
            checked_by=actor,
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="application.card_check",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={
                "card_check": [None, str(check.pk)],
                "bank_card": [None, household.bank_card_masked],
                "holds": [None, holds],
            },
            reason=reason,
        )
    return check


__all__ = [
    "card_check_allowed",
    "card_check_record",
    "attachment_add",
    "application_create",
    "application_edit",
    "application_transition",
    "approval_step",
    "available_transitions",
    "objection_raise",
    "objection_resolve",
    "postings_close_due",
    "subsidy_available",
]
