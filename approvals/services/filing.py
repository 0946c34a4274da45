"""Filing an application for a household and changing it while it is a draft or returned:
items within the program's caps, the village's democratic appraisal, field-by-field audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from applications.chains import chain_for_kind
from applications.models import (
    Application,
    ApplicationItem,
    Household,
    LoanRequest,
    Program,
    ProgramItem,
    ProgramVersion,
    StatusChange,
)
from applications.roles import Role
from applications.selectors import (
    has_role_in,
    households_visible_to,
    programs_visible_to,
)
from applications.services import kin_flags_detect, program_version_current
from approvals import hooks, policy
from approvals.services.access import _household_and_area, _lock_for, _refuse_if_recused
from audit.services import audit_record, model_changes
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, Refused
from common.money import to_fen

S = Application.Status


STATUS_KINDS = (Program.Kind.EXIT, Program.Kind.RETURN)


def _application_snapshot(
    app: Application,
    lines: Iterable[ApplicationItem],
    loan: LoanRequest | None = None,
    change: StatusChange | None = None,
) -> dict[str, Any]:
    out = {
        "household": app.household_id,
        "program": app.program_id,
        "program_version": app.program_version_id,
        "status": app.status,
        "amount": app.amount,
        "items": sorted(f"{line.item.code}×{line.quantity}@{line.unit_amount}" for line in lines),
    }
    if loan is not None:
        out |= {
            "loan_bank": loan.bank.code,
            "loan_months": loan.months,
            "loan_purpose_category": loan.purpose_category,
            "loan_purpose": loan.purpose,
            "loan_repayment_method": loan.repayment_method,
        }
    if change is not None:
        out |= {
            f: getattr(change, f)
            for f in (
                "income_per_capita",
                "income_year",
                "visit_date",
                "risk_cause",
                "risk_date",
                "due_on",
            )
            if getattr(change, f) not in (None, "")
        }
    return out


def _status_change_checked(
    kind: str, version: ProgramVersion, change: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What an exit or a return proposes, checked: an exit's per-capita income for a year
    and the visit's date; a return's risk signal (cause and date), and from it the date
    identification is due (``monitoring_days`` later). The fields of its ``StatusChange``."""
    change = change or {}
    errors: dict[str, list[str]] = {}
    today = clock.today()
    out: dict[str, Any] = {}
    if kind == Program.Kind.EXIT:
        try:
            income = Decimal(str(change.get("income_per_capita", "")).strip())
            if not income.is_finite() or income < 0 or income >= Decimal("1e9"):
                raise ValueError
            out["income_per_capita"] = to_fen(income)
        except (ArithmeticError, ValueError):
            errors["income_per_capita"] = [
                _("Give the per-capita income in yuan for the year, such as 6200.")
            ]
        try:
            year = int(str(change.get("income_year", "")).strip())
            if not 2000 <= year <= today.year:
                raise ValueError
            out["income_year"] = year
        except ValueError:
            errors["income_year"] = [_("Give the year the income is for, up to this year.")]
        visit = change.get("visit_date")
        if not isinstance(visit, date):
            errors["visit_date"] = [_("Give the date of the household visit.")]
        elif visit > today:
            errors["visit_date"] = [_("The visit's date is in the future.")]
        else:
            out["visit_date"] = visit
    else:
        cause = str(change.get("risk_cause", ""))
        if cause not in Household.Cause.values:
            errors["risk_cause"] = [_("Choose the cause of the risk from the list.")]
        else:
            out["risk_cause"] = cause
        signal = change.get("risk_date")
        if not isinstance(signal, date):
            errors["risk_date"] = [_("Give the date of the risk signal.")]
        elif signal > today:
            errors["risk_date"] = [_("The risk signal's date is in the future.")]
        else:
            out["risk_date"] = signal
            out["due_on"] = signal + timedelta(days=version.monitoring_days)
    if errors:
        raise InvalidInput(errors)
    return out


def _loan_request_checked(
    household: Household, version: ProgramVersion, loan: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a loan application asks, checked by the rules of the layer that knows them
    (``hooks.on_request``): the fields of its ``LoanRequest``."""
    check = hooks.request_check(version.program.kind)
    if check is None:
        raise InvalidInput({"program": [_("Loan applications are not open yet.")]})
    if not loan:
        raise InvalidInput(
            {
                "loan": [
                    _(
                        "Say what loan is asked: the amount, term, purpose, repayment method "
                        "and bank."
                    )
                ]
            }
        )
    return check(household, version, loan, clock.today())


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


def _items_create(
    app: Application, lines: Iterable[tuple[ProgramItem, int]]
) -> list[ApplicationItem]:
    """The application's item rows, each at the item's unit amount of now (later changes of
    the program do not reach a filed application)."""
    return ApplicationItem.objects.bulk_create(
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


def application_create(
    *,
    actor: Actor,
    household_id: int,
    program_id: int,
    items: Iterable[Mapping[str, Any]] = (),
    loan: Mapping[str, Any] | None = None,
    change: Mapping[str, Any] | None = None,
) -> Application:
    """File a draft application on a household's behalf.

    Guarantees: the household is in the actor's village(s) and eligible; the actor is not
    recused from it (``Forbidden``, recorded); the amount is computed from the items of
    the parameters in force today and is within the household cap; at most one active
    application per household and program; audited; a conflict of interest of another
    official of the area is flagged at once (``kin_flags_detect``). A loan program's
    application asks for a ``loan`` (amount, months, purpose, repayment method, bank)
    instead of items, checked by the loan rules (``hooks.on_request``). An exit's or a
    return's (``change``: its facts, see ``_status_change_checked``) has neither, and
    starts from the household status its chain leaves (``policy.household_status_fits``).
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
    program = programs_visible_to(actor).filter(pk=program_id, active=True).first()
    if program is None or program.area_id[:6] != household.area_code[:6]:
        raise InvalidInput({"program": [_("No such program in your county.")]})
    if chain_for_kind(program.kind) is None:
        raise InvalidInput({"program": [_("Loan applications are not open yet.")]})
    version = program_version_current(program)
    if program.kind in STATUS_KINDS:
        refusal = policy.status_fits_refusal(household, program.kind)
        if refusal is not None:
            raise InvalidInput({"household": [refusal.message]}, code=refusal.code)
    elif not policy.household_eligible(household, version):
        raise InvalidInput(
            {"household": [_("Only registered or returned-to-poverty households may apply.")]},
            code=Code.HOUSEHOLD_INELIGIBLE,
        )
    request: dict[str, Any] | None = None
    facts: dict[str, Any] | None = None
    lines: list[tuple[ProgramItem, int]] = []
    if program.kind in STATUS_KINDS:
        if items or loan:
            raise InvalidInput({"items": [_("An exit or a return asks for no money.")]})
        facts = _status_change_checked(program.kind, version, change)
        amount = Decimal("0.00")
    elif program.kind == Program.Kind.LOAN:
        if items:
            raise InvalidInput({"items": [_("A loan application has no items.")]})
        request = _loan_request_checked(household, version, loan)
        amount = request["amount"]
    else:
        if loan:
            raise InvalidInput({"loan": [_("This program pays subsidies, not loans.")]})
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
                created_by=person(actor),
            )
            rows = _items_create(app, lines)
            loan_row = (
                LoanRequest.objects.create(application=app, **request)
                if request is not None
                else None
            )
            change_row = (
                StatusChange.objects.create(application=app, **facts) if facts is not None else None
            )
            hooks.notify_created(app, actor)  # before the entry: it holds the chain head
            audit_record(
                actor=actor,
                action="application.create",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                to_state=app.status,
                changes=model_changes(None, _application_snapshot(app, rows, loan_row, change_row)),
            )
            kin_flags_detect(actor=actor, application_ids=[app.pk])
    except IntegrityError:
        raise InvalidInput(
            {
                "household": [
                    _("This household already has an active application for this program.")
                ]
            },
            code=Code.ACTIVE_APPLICATION,
        ) from None
    return app


def application_edit(
    *,
    actor: Actor,
    application_id: int,
    items: Iterable[Mapping[str, Any]] | None = None,
    appraisal_date: date | None = None,
    appraisal_attendees: int | None = None,
    appraisal_votes_for: int | None = None,
    appraisal_votes_against: int | None = None,
    loan: Mapping[str, Any] | None = None,
    change: Mapping[str, Any] | None = None,
) -> Application:
    """Change the items (a loan application: what it asks, ``loan``; an exit or a return:
    its facts, ``change``) or record the democratic appraisal, while the application is a
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
        loan_row = LoanRequest.objects.select_related("bank").filter(application=app).first()
        change_row = StatusChange.objects.filter(application=app).first()
        before = _application_snapshot(app, old_lines, loan_row, change_row) | _appraisal(app)
        if change is not None:
            if change_row is None:
                raise InvalidInput({"change": [_("This application is no exit or return.")]})
            facts = _status_change_checked(app.program.kind, app.program_version, change)
            for field, value in facts.items():
                setattr(change_row, field, value)
            change_row.save()
        lines = old_lines
        if loan is not None:
            if loan_row is None:
                raise InvalidInput({"loan": [_("This program pays subsidies, not loans.")]})
            request = _loan_request_checked(app.household, app.program_version, loan)
            for field, value in request.items():
                setattr(loan_row, field, value)
            loan_row.save()
            app.amount = request["amount"]
        if items is not None and loan_row is not None:
            raise InvalidInput({"items": [_("A loan application has no items.")]})
        if items is not None and change_row is not None:
            raise InvalidInput({"items": [_("An exit or a return asks for no money.")]})
        if items is not None:
            version = app.program_version
            resolved = _resolve_items({i.code: i for i in version.items.all()}, items)
            amount = policy.items_amount(resolved)
            _check_cap(version, amount, app.household_id, exclude=app.pk)
            app.items.all().delete()
            lines = _items_create(app, resolved)
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
        changes = model_changes(
            before, _application_snapshot(app, lines, loan_row, change_row) | _appraisal(app)
        )
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
