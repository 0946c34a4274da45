"""The bank's loan desk: what a household may ask for, the bank's credit decision and the
drawdown (扶贫小额信贷). Every write here is one transaction with the application's row
locked, then the county fund's row (always in that order); a refusal changes nothing and
is recorded after the rollback."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.idnumbers import decrypt
from applications.lifecycle import lifecycle_of
from applications.models import Application, Bank, BankOfficer, Household, Person, ProgramVersion
from applications.selectors import applications_visible_to
from approvals.services.access import access_refused
from approvals.services.transitions import StepRefusal, application_step_within
from audit.services import audit_refusal
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.money import to_fen
from loans.models import Instalment, Loan, LoanParameters
from loans.policy import DEFAULT_ELIGIBLE, PURPOSES
from loans.schedules import add_months, schedule
from loans.selectors import (
    fund_capacity,
    fund_covered,
    fund_leverage,
    reference_kind,
    reference_rate_on,
)
from loans.services.fund import fund_locked

T = TypeVar("T")
S = Application.Status


def _decimal(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = [_("Give an amount in figures.")]
        return None
    if not number.is_finite() or number <= 0 or to_fen(number) != number:
        errors[field] = [_("Give a positive amount in yuan and fen.")]
        return None
    return number


def _whole(value: Any, field: str, errors: dict[str, list[str]]) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[field] = [_("Give a whole number of months.")]
        return None
    if number < 1:
        errors[field] = [_("Give a whole number of months.")]
        return None
    return number


def borrower_age(household: Household, on: date) -> int | None:
    """The head's age on ``on`` in whole years, from the date of birth in their ID number
    (None without a head)."""
    head = Person.objects.filter(household=household, relation=Person.Relation.HEAD).first()
    if head is None:
        return None
    born = decrypt(head.id_cipher)[6:14]
    year, month, day = int(born[:4]), int(born[4:6]), int(born[6:])
    return on.year - year - ((on.month, on.day) < (month, day))


def loan_parameters(version: ProgramVersion) -> LoanParameters | None:
    return LoanParameters.objects.filter(version=version).first()


def loan_request_check(
    household: Household, version: ProgramVersion, asked: Mapping[str, Any], on: date
) -> dict[str, Any]:
    """What a loan application may ask, under the version in force on ``on``: an amount
    and a term within the caps, a borrower (the head) of an age in range, a purpose the
    version does not forbid, a repayment method it allows, a bank lending in the county, an
    eligible household without an open loan of the program. Returns the ``LoanRequest``'s
    fields; ``InvalidInput`` with every problem (the code of the first) otherwise."""
    params = loan_parameters(version)
    if params is None:
        raise InvalidInput({"program": [_("This program has no loan parameters.")]})
    errors: dict[str, list[str]] = {}
    codes: list[Code] = []

    def refuse(field: str, message: str, code: Code) -> None:
        errors.setdefault(field, []).append(message)
        codes.append(code)

    amount = _decimal(asked.get("amount"), "amount", errors)
    if amount is not None and version.loan_max_amount is not None:
        if amount > version.loan_max_amount:
            refuse(
                "amount",
                _("At most %(max)s yuan may be lent.") % {"max": version.loan_max_amount},
                Code.LOAN_OVER_CAP,
            )
    months = _whole(asked.get("months"), "months", errors)
    if months is not None and version.loan_max_months is not None:
        if months > version.loan_max_months:
            refuse(
                "months",
                _("The term is at most %(max)s months.") % {"max": version.loan_max_months},
                Code.LOAN_TERM_OVER_CAP,
            )
    age = borrower_age(household, on)
    if age is None or not params.min_age <= age <= params.max_age:
        refuse(
            "household",
            _("The borrower (the head of household) must be %(min)s to %(max)s years old.")
            % {"min": params.min_age, "max": params.max_age},
            Code.BORROWER_AGE,
        )
    eligible = params.eligible_statuses or DEFAULT_ELIGIBLE
    if household.status not in eligible:
        refuse(
            "household",
            _("This household's status does not allow it to borrow."),
            Code.HOUSEHOLD_INELIGIBLE,
        )
    category = str(asked.get("purpose_category") or "").strip()
    if category in (params.forbidden_purposes or []):
        refuse(
            "purpose_category",
            _("Poverty microloans may not be used for %(purpose)s.")
            % {"purpose": PURPOSES[category]},
            Code.PURPOSE_FORBIDDEN,
        )
    elif category not in PURPOSES or category not in (params.allowed_purposes or []):
        refuse(
            "purpose_category",
            _("Choose one of the productive purposes the program allows."),
            Code.PURPOSE_FORBIDDEN,
        )
    purpose = str(asked.get("purpose") or "").strip()
    if not purpose:
        errors["purpose"] = [_("Say what the loan is for.")]
    elif len(purpose) > 200:
        errors["purpose"] = [_("At most 200 characters.")]
    method = str(asked.get("repayment_method") or "").strip()
    if method not in (params.repayment_methods or []):
        errors["repayment_method"] = [_("Choose a repayment method the program allows.")]
    bank = Bank.objects.filter(code=str(asked.get("bank") or "").strip()).first()
    county = household.area_code[:6] + "000000"
    if bank is None or not BankOfficer.objects.filter(bank=bank, county_id=county).exists():
        errors["bank"] = [_("Choose a bank that lends in this county.")]
    if Loan.objects.filter(
        household=household,
        program_version__program_id=version.program_id,
        status__in=Loan.OPEN,
    ).exists():
        refuse(
            "household",
            _("The household already has a loan of this program that is not repaid."),
            Code.ACTIVE_LOAN,
        )
    if errors or amount is None or months is None or bank is None:
        raise InvalidInput(errors, code=codes[0] if codes else Code.INVALID)
    return {
        "bank": bank,
        "amount": amount,
        "months": months,
        "purpose_category": category,
        "purpose": purpose,
        "repayment_method": method,
    }


def _at_desk(actor: Actor, application_id: int, action: str, body: Callable[[], T]) -> T:
    """Run a desk write in one transaction; a refusal rolls it back and is then recorded."""
    try:
        with transaction.atomic():
            return body()
    except StepRefusal as refusal:
        audit_refusal(
            actor=actor,
            action=action,
            object_type="application",
            object_id=application_id,
            area_code=refusal.area_code,
            from_state=refusal.from_state,
            reason=str(refusal.error),
        )
        raise refusal.error from None


def _locked(actor: Actor, application_id: int, action: str) -> Application:
    app = (
        applications_visible_to(actor)
        .select_for_update(no_key=True, of=("self",))
        .select_related("program_version", "loan__bank")
        .filter(pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    return app


def _refused(app: Application, message: str, code: Code) -> StepRefusal:
    return StepRefusal(Refused(message, code=code), app.area_code, app.status)


def _step_open(app: Application, actor: Actor, name: str) -> None:
    """The step leaves the application's state and the actor's role takes it (the lending
    bank's officer), before any of its terms are weighed: the refusals of the state
    machine, as every step gives them."""
    lifecycle = lifecycle_of(app, actor)
    if not lifecycle.leaves_current_state(name):
        raise _refused(
            app,
            _("This step is not possible now: the application is %(status)s.")
            % {"status": app.get_status_display()},
            Code.WRONG_STATE,
        )
    if not lifecycle.method(name).has_perm(actor):
        raise StepRefusal(
            Forbidden(_("Your role may not take this step here."), code=Code.ROLE),
            app.area_code,
            app.status,
        )


def loan_approve(*, actor: Actor, application_id: int, terms: Mapping[str, Any]) -> Application:
    """The bank's credit decision to lend (``bank_approve``), with its terms: an amount up
    to what was asked, a term within the program's cap, a rate at most the reference rate
    in force today plus the program's spread. Guarantees: the county's risk fund can cover
    the amount (``fund_capacity``: checked under the fund row's lock, so concurrent
    approvals never together exceed it); the terms, the decision and the audit entry are
    written together; a refusal changes nothing and is recorded."""
    errors: dict[str, list[str]] = {}
    amount = _decimal(terms.get("approved_amount"), "approved_amount", errors)
    rate_raw = terms.get("annual_rate")
    try:
        rate = Decimal(str(rate_raw).strip()) if rate_raw is not None else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or rate < 0:
        errors["annual_rate"] = [_("Give the contract rate in percent a year.")]
    months = _whole(terms.get("months"), "months", errors)
    if errors or amount is None or rate is None or months is None:
        raise InvalidInput(errors)
    today = clock.today()

    def body() -> Application:
        app = _locked(actor, application_id, "application.bank_approve")
        _step_open(app, actor, "bank_approve")
        request = app.loan
        params = loan_parameters(app.program_version)
        if params is None:
            raise _refused(app, _("This program has no loan parameters."), Code.INVALID)
        if amount > request.amount:
            raise _refused(
                app,
                _("The bank grants at most the %(asked)s yuan asked.") % {"asked": request.amount},
                Code.LOAN_OVER_CAP,
            )
        cap_months = app.program_version.loan_max_months
        if cap_months is not None and months > cap_months:
            raise _refused(
                app,
                _("The term is at most %(max)s months.") % {"max": cap_months},
                Code.LOAN_TERM_OVER_CAP,
            )
        reference = reference_rate_on(reference_kind(params.rate_rule, months), today)
        if reference is None:
            raise _refused(
                app, _("No reference rate is in force for this term."), Code.NO_REFERENCE_RATE
            )
        ceiling = reference.rate + params.rate_spread_max
        if rate > ceiling:
            raise _refused(
                app,
                _(
                    "The rate may be at most %(ceiling)s%% a year (the reference rate "
                    "%(reference)s%% plus %(spread)s points)."
                )
                % {
                    "ceiling": ceiling.normalize(),
                    "reference": reference.rate.normalize(),
                    "spread": params.rate_spread_max.normalize(),
                },
                Code.RATE_OVER_CAP,
            )
        county = app.area_code[:6] + "000000"
        fund = fund_locked(county)
        capacity = fund_capacity(fund.balance, fund_leverage(county, today), fund_covered(county))
        if capacity is None or amount > capacity:
            raise _refused(
                app,
                _(
                    "The county's risk fund cannot cover this loan: banks may still lend "
                    "%(capacity)s yuan under it."
                )
                % {"capacity": capacity if capacity is not None else Decimal("0.00")},
                Code.FUND_CAPACITY,
            )
        request.approved_amount = amount
        request.annual_rate = rate
        request.approved_months = months
        request.reference_rate = reference.rate
        request.decided_by = person(actor)
        request.decided_at = clock.now()
        request.save()
        return application_step_within(
            actor=actor,
            application_id=app.pk,
            name="bank_approve",
            via_loan_desk=True,
            changes={
                "approved_amount": [None, amount],
                "annual_rate": [None, rate],
                "approved_months": [None, months],
                "reference_rate": [None, reference.rate],
                "fund_capacity": [capacity, capacity - amount],
            },
        )

    return _desk(actor, application_id, "application.bank_approve", body)


def _desk(actor: Actor, application_id: int, action: str, body: Callable[[], T]) -> T:
    try:
        return _at_desk(actor, application_id, action, body)
    except NotFound:
        access_refused(actor=actor, application_id=application_id, action=action)
        raise


def loan_reference(application: Application) -> str:
    """The loan's reference in files and on paper: 'DK', the county code and the
    application's number."""
    return f"DK{application.area_code[:6]}{application.pk:08d}"


def loan_drawdown(*, actor: Actor, application_id: int, on: Any, amount: Any) -> Loan:
    """The drawdown (``disburse`` of the loan chain): the bank lends ``amount`` (at most the
    amount granted) on ``on`` (not before the bank's approval, not in the future), against
    the signed contract on the record. Makes the loan, active, with its schedule under the
    program's day count from that day; one transaction, on the record."""
    errors: dict[str, list[str]] = {}
    sum_ = _decimal(amount, "amount", errors)
    if not isinstance(on, date):
        errors["date"] = [_("Give the drawdown date.")]
    elif on > clock.today():
        errors["date"] = [_("A drawdown is not dated in the future.")]
    if errors or sum_ is None or not isinstance(on, date):
        raise InvalidInput(errors)

    def body() -> Loan:
        app = _locked(actor, application_id, "application.disburse")
        _step_open(app, actor, "disburse")
        request = app.loan
        params = loan_parameters(app.program_version)
        granted, decided_at = request.approved_amount, request.decided_at
        rate, months, reference_rate = (
            request.annual_rate,
            request.approved_months,
            request.reference_rate,
        )
        if (
            params is None
            or granted is None
            or decided_at is None
            or rate is None
            or months is None
            or reference_rate is None
        ):
            raise _refused(app, _("The bank's decision is incomplete."), Code.WRONG_STATE)
        if sum_ > granted:
            raise _refused(
                app,
                _("At most the %(granted)s yuan granted can be drawn.")
                % {"granted": request.approved_amount},
                Code.DRAWDOWN_OVER_APPROVED,
            )
        decided_on = timezone.localdate(decided_at)
        if on < decided_on:
            raise _refused(
                app,
                _("The drawdown cannot be dated before the bank's approval (%(day)s).")
                % {"day": decided_on.isoformat()},
                Code.DRAWDOWN_BEFORE_APPROVAL,
            )
        lines = schedule(
            principal=sum_,
            annual_rate=rate,
            months=months,
            method=request.repayment_method,
            start=on,
            day_count=params.day_count,
        )
        reference = loan_reference(app)
        application_step_within(
            actor=actor,
            application_id=app.pk,
            name="disburse",
            via_loan_desk=True,
            changes={
                "loan": [None, reference],
                "principal": [None, sum_],
                "drawdown_date": [None, on.isoformat()],
                "annual_rate": [None, rate],
                "months": [None, months],
                "repayment_method": [None, request.repayment_method],
                "instalments": [None, len(lines)],
                "interest_scheduled": [None, sum((i.interest for i in lines), Decimal("0.00"))],
            },
        )
        loan = Loan.objects.create(
            application=app,
            reference=reference,
            bank_id=request.bank_id,
            household_id=app.household_id,
            program_version_id=app.program_version_id,
            area_code=app.area_code,
            principal=sum_,
            annual_rate=rate,
            reference_rate=reference_rate,
            months=months,
            method=request.repayment_method,
            day_count=params.day_count,
            drawdown_date=on,
            maturity_date=add_months(on, months),
            outstanding_principal=sum_,
            drawn_by=person(actor),
        )
        Instalment.objects.bulk_create(
            Instalment(
                loan=loan,
                seq=line.seq,
                start_date=line.start,
                due_date=line.due_date,
                days=line.days,
                principal=line.principal,
                interest=line.interest,
                balance_before=line.balance_after + line.principal,
            )
            for line in lines
        )
        return loan

    return _desk(actor, application_id, "application.disburse", body)


def _handler_approve(actor: Actor, application_id: int, data: Mapping[str, Any]) -> Application:
    return loan_approve(actor=actor, application_id=application_id, terms=data)


def _handler_drawdown(actor: Actor, application_id: int, data: Mapping[str, Any]) -> Application:
    loan = loan_drawdown(
        actor=actor, application_id=application_id, on=data.get("date"), amount=data.get("amount")
    )
    return loan.application


def register() -> None:
    """Attach the loan desk to the lower layers: the check of what a loan application
    asks, and the bank's steps that carry terms (taken through the transitions API too)."""
    from applications.models import Program
    from approvals import hooks

    hooks.on_request(Program.Kind.LOAN, loan_request_check)
    hooks.on_step(Program.Kind.LOAN, "bank_approve", _handler_approve)
    hooks.on_step(Program.Kind.LOAN, "disburse", _handler_drawdown)
