"""Servicing a loan after its drawdown: the bank's repayments (one by one or a file of
them), the daily sweep of days past due, and the risk fund's compensation of a bad loan with
the recoveries after it. Every change of a loan is under its row's lock
and on the record; the outstanding principal moves only with a repayment."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.utils.translation import gettext as _

from applications.selectors import applications_visible_to, bank_posts_of
from audit.services import audit_record, audit_records
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.money import to_fen
from common.rows import rows_update
from loans.models import FundMovement, Instalment, Loan, Repayment, RepaymentImport
from loans.schedules import DayCount, days_between, interest_for
from loans.selectors import loans_visible_to
from loans.services.fund import fund_locked

ZERO = Decimal("0.00")
MAX_FILE = 5 * 1024 * 1024
MAX_ROWS = 20000


def _figure(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal:
    try:
        number = Decimal(str(value if value is not None else "0").strip() or "0")
    except (InvalidOperation, ValueError):
        errors[field] = [_("Give an amount in figures.")]
        return ZERO
    if not number.is_finite() or number < 0 or to_fen(number) != number:
        errors[field] = [_("Give an amount in yuan and fen, not negative.")]
        return ZERO
    return number


def _bank_loan_locked(actor: Actor, loan_id: int) -> Loan:
    """The loan, locked, for its bank's officer: ``NotFound`` outside their scope,
    ``Refused`` (``loan_not_drawn``) for a loan application not drawn yet, ``Forbidden``
    for anyone but the lending bank's officer."""
    loan = (
        loans_visible_to(actor)
        .select_for_update(no_key=True, of=("self",))
        .filter(pk=loan_id)
        .first()
    )
    if loan is None:
        if applications_visible_to(actor).filter(pk=loan_id, loan__isnull=False).exists():
            raise Refused(
                _("The loan has not been drawn down yet: there is nothing to repay."),
                code=Code.LOAN_NOT_DRAWN,
            )
        raise NotFound(_("No such loan in your area."))
    if (loan.bank_id, loan.area_code[:6] + "000000") not in set(bank_posts_of(actor)):
        raise Forbidden(_("Only the lending bank's officer records repayments."), code=Code.ROLE)
    return loan


@dataclass
class Applied:
    interest: Decimal = ZERO
    principal: Decimal = ZERO
    changed: list[Instalment] = field(default_factory=list)


def repayment_allocate(
    loan: Loan, instalments: Sequence[Instalment], on: date, amount: Decimal
) -> Applied:
    """Apply ``amount`` (what the household paid beside penalty interest) to the schedule,
    changing ``instalments`` in place: the interest of instalments already due, oldest
    first (overdue interest before the one due that day), then principal in order of the
    schedule (interest not yet due is not paid ahead). Paying everything off early pays the
    running period's interest to that day only, and nothing more falls due. ``InvalidInput``
    when it is more than is owed."""
    applied = Applied()
    open_ = [i for i in instalments if i.paid_on is None]
    due = [i for i in open_ if i.due_date <= on]
    running = [i for i in open_ if i.start_date < on < i.due_date][:1]
    accrued = {
        i.pk: interest_for(
            min(i.balance_before, loan.outstanding_principal),
            loan.annual_rate,
            days_between(i.start_date, on, DayCount(loan.day_count)),
        )
        for i in running
    }
    payoff = (
        loan.outstanding_principal
        + sum((i.interest - i.interest_paid for i in due), ZERO)
        + sum((max(accrued[i.pk] - i.interest_paid, ZERO) for i in running), ZERO)
    )
    interest_owed = due
    if amount >= payoff:
        # Paid off: interest runs to this day only, and nothing more falls due.
        interest_owed = [*due, *running]
        for inst in open_:
            if inst.start_date >= on:
                inst.interest, inst.days = inst.interest_paid, 0
            elif inst.pk in accrued:
                inst.interest = max(inst.interest_paid, accrued[inst.pk])
                # The days interest ran (the subsidy is for these days only).
                inst.days = days_between(inst.start_date, on, DayCount(loan.day_count))
    left = amount
    for inst in interest_owed:
        take = min(left, inst.interest - inst.interest_paid)
        if take > 0:
            inst.interest_paid += take
            applied.interest += take
            left -= take
    for inst in open_:
        take = min(left, inst.principal - inst.principal_paid)
        if take > 0:
            inst.principal_paid += take
            applied.principal += take
            left -= take
    if left > 0:
        raise InvalidInput(
            {"principal": [_("The payment is %(over)s yuan more than is owed.") % {"over": left}]}
        )
    for inst in open_:
        if inst.interest_paid_on is None and inst.interest_paid >= inst.interest:
            inst.interest_paid_on = on
        if inst.paid_on is None and inst.interest_paid_on and inst.principal_paid >= inst.principal:
            inst.paid_on = on
    applied.changed = open_
    return applied


def loan_standing(loan: Loan, first_unpaid_due: date | None, today: date) -> tuple[int, str]:
    """Days past due and status on ``today``: counted from the oldest instalment due and not
    paid in full; a loan with nothing owed is repaid; a compensated or written-off loan
    keeps its status."""
    if loan.status not in Loan.OPEN:
        return loan.days_past_due, loan.status
    if loan.outstanding_principal == 0 and first_unpaid_due is None:
        return 0, Loan.Status.REPAID
    if first_unpaid_due is None or first_unpaid_due >= today:
        return 0, Loan.Status.ACTIVE
    return (today - first_unpaid_due).days, Loan.Status.OVERDUE


def _first_unpaid_due(instalments: Iterable[Instalment]) -> date | None:
    unpaid = [i.due_date for i in instalments if i.paid_on is None]
    return min(unpaid) if unpaid else None


def _repay_locked(
    *,
    actor: Actor,
    loan: Loan,
    on: date,
    principal: Decimal,
    interest: Decimal,
    penalty: Decimal,
    source: RepaymentImport | None,
) -> Repayment:
    if on < loan.drawdown_date:
        raise InvalidInput({"date": [_("A repayment is not dated before the drawdown.")]})
    instalments = list(Instalment.objects.filter(loan=loan).order_by("seq"))
    applied = repayment_allocate(loan, instalments, on, principal + interest)
    Instalment.objects.bulk_update(
        applied.changed,
        ["days", "interest", "interest_paid", "principal_paid", "interest_paid_on", "paid_on"],
    )
    before = (loan.outstanding_principal, loan.status, loan.days_past_due)
    loan.outstanding_principal -= applied.principal
    loan.days_past_due, loan.status = loan_standing(
        loan, _first_unpaid_due(instalments), clock.today()
    )
    loan.save(update_fields=["outstanding_principal", "days_past_due", "status"])
    repayment = Repayment.objects.create(
        loan=loan,
        date=on,
        principal=principal,
        interest=interest,
        penalty=penalty,
        applied_interest=applied.interest,
        applied_principal=applied.principal,
        source=source,
        created_by=person(actor),
    )
    audit_record(
        actor=actor,
        action="loan.repayment",
        object_type="loan",
        object_id=loan.pk,
        area_code=loan.area_code,
        from_state=before[1],
        to_state=loan.status,
        changes={
            "date": [None, on.isoformat()],
            "principal": [None, principal],
            "interest": [None, interest],
            "penalty": [None, penalty],
            "applied_interest": [None, applied.interest],
            "applied_principal": [None, applied.principal],
            "outstanding_principal": [before[0], loan.outstanding_principal],
            **({"file": [None, source.sha256]} if source is not None else {}),
        },
    )
    return repayment


def _checked_figures(
    on: Any, principal: Any, interest: Any, penalty: Any
) -> tuple[date, Decimal, Decimal, Decimal]:
    errors: dict[str, list[str]] = {}
    figures = (
        _figure(principal, "principal", errors),
        _figure(interest, "interest", errors),
        _figure(penalty, "penalty", errors),
    )
    if not isinstance(on, date):
        errors["date"] = [_("Give the date of the repayment.")]
    elif on > clock.today():
        errors["date"] = [_("A repayment is not dated in the future.")]
    if not errors and sum(figures) <= 0:
        errors["principal"] = [_("A repayment pays something.")]
    if errors or not isinstance(on, date):
        raise InvalidInput(errors)
    return on, *figures


def loan_repay(
    *, actor: Actor, loan_id: int, on: Any, principal: Any, interest: Any, penalty: Any = 0
) -> Repayment:
    """A repayment the bank received for one of its loans, applied to the schedule (penalty
    interest first, then overdue interest, interest due and principal). By the lending
    bank's officer; a loan not drawn, closed, or paid more than owed is refused and nothing
    changes."""
    day, p, i, pen = _checked_figures(on, principal, interest, penalty)
    with transaction.atomic():
        loan = _bank_loan_locked(actor, loan_id)
        if loan.status not in Loan.OPEN:
            raise Refused(
                _("The loan is %(status)s: nothing more is repaid on it.")
                % {"status": loan.get_status_display()},
                code=Code.LOAN_CLOSED,
            )
        return _repay_locked(
            actor=actor, loan=loan, on=day, principal=p, interest=i, penalty=pen, source=None
        )


# --- the bank's repayment file ----------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    rows: int
    total: Decimal
    already_imported: bool
    file: RepaymentImport


HEADER_WORDS = {"reference", "loan_reference", "贷款编号", "借据号", "loan reference"}


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.rstrip(b"\x1a")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput(
                {"file": [_("The file is neither UTF-8 nor GB18030 text.")]},
                code=Code.REPAYMENT_FILE_INVALID,
            ) from None


def _parse_date(raw: str) -> date | None:
    text = raw.strip().replace("/", "-")
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        return None


def repayments_import(*, actor: Actor, data: bytes, name: str = "") -> ImportOutcome:
    """The bank's repayment file (CSV: loan reference, date, principal, interest, penalty;
    a header line allowed; UTF-8 or GB18030). Every row is checked first; any problem
    refuses the whole file with every problem by row, and nothing changes. Applied in one
    transaction; the same file again (its SHA-256) changes nothing and answers the earlier
    import."""
    if len(data) > MAX_FILE:
        raise InvalidInput({"file": [_("The file is too large: at most 5 MB.")]})
    digest = hashlib.sha256(data).hexdigest()
    earlier = RepaymentImport.objects.filter(sha256=digest).first()
    if earlier is not None:
        return ImportOutcome(earlier.rows, earlier.total, True, earlier)
    rows = [r for r in csv.reader(io.StringIO(_decode(data))) if any(c.strip() for c in r)]
    if rows and rows[0] and rows[0][0].strip().lower() in HEADER_WORDS:
        rows = rows[1:]
    if not rows:
        raise InvalidInput({"file": [_("The file has no repayments.")]})
    if len(rows) > MAX_ROWS:
        raise InvalidInput({"file": [_("At most 20,000 repayments a file.")]})
    problems: list[str] = []
    parsed: list[tuple[int, str, date, Decimal, Decimal, Decimal]] = []
    seen: set[tuple[str, ...]] = set()
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if len(cells) != 5:
            problems.append(_("Row %(n)s: five columns are expected.") % {"n": number})
            continue
        if tuple(cells) in seen:
            problems.append(_("Row %(n)s: the same repayment twice.") % {"n": number})
            continue
        seen.add(tuple(cells))
        day = _parse_date(cells[1])
        if day is None or day > clock.today():
            problems.append(_("Row %(n)s: a bad date.") % {"n": number})
            continue
        errors: dict[str, list[str]] = {}
        p, i, n = (_figure(c, f, errors) for c, f in zip(cells[2:], "pin", strict=True))
        if errors or p + i + n <= 0:
            problems.append(_("Row %(n)s: a bad amount.") % {"n": number})
            continue
        parsed.append((number, cells[0], day, p, i, n))
    references = {p[1] for p in parsed}
    loans = {
        loan.reference: loan for loan in loans_visible_to(actor).filter(reference__in=references)
    }
    posts = set(bank_posts_of(actor))
    for number, reference, *_rest in parsed:
        loan = loans.get(reference)
        if loan is None or (loan.bank_id, loan.area_code[:6] + "000000") not in posts:
            problems.append(
                _("Row %(n)s: no loan %(ref)s of your bank.") % {"n": number, "ref": reference[:40]}
            )
    if problems:
        raise InvalidInput({"file": problems}, code=Code.REPAYMENT_FILE_INVALID)
    total = sum((p[3] + p[4] + p[5] for p in parsed), ZERO)
    with transaction.atomic():
        source = RepaymentImport.objects.create(
            sha256=digest,
            original_name=(name or "repayments.csv")[:200],
            rows=len(parsed),
            total=total,
            imported_by=person(actor),
        )
        for number, reference, day, p, i, pen in sorted(parsed, key=lambda r: (r[2], r[0])):
            loan = Loan.objects.select_for_update(no_key=True).get(pk=loans[reference].pk)
            if loan.status not in Loan.OPEN:
                raise InvalidInput(
                    {"file": [_("Row %(n)s: the loan is closed.") % {"n": number}]},
                    code=Code.REPAYMENT_FILE_INVALID,
                )
            try:
                _repay_locked(
                    actor=actor,
                    loan=loan,
                    on=day,
                    principal=p,
                    interest=i,
                    penalty=pen,
                    source=source,
                )
            except InvalidInput as exc:
                messages = [m for ms in exc.as_dict().values() for m in ms]
                raise InvalidInput(
                    {"file": [_("Row %(n)s: %(m)s") % {"n": number, "m": messages[0]}]},
                    code=Code.REPAYMENT_FILE_INVALID,
                ) from None
    return ImportOutcome(len(parsed), total, False, source)


# --- the daily sweep ----------------------------------------------------------------------


def loans_sweep(today: date | None = None) -> int:
    """Days past due and the status of every open loan, as of ``today``: one read of the
    oldest unpaid instalment due per loan, and one write of the loans whose figures moved.
    Once a day: a loan swept today is not read again (a repayment brings its own loan up to
    date), so the timers may call it every minute and a second run changes nothing. A loan
    that falls overdue or comes back is on the record. Returns how many loans changed."""
    today = today or clock.today()
    if not Loan.objects.filter(status__in=Loan.OPEN).exclude(swept_on=today).exists():
        return 0
    first_due = dict(
        Instalment.objects.filter(loan__status__in=Loan.OPEN, paid_on__isnull=True)
        .values("loan_id")
        .annotate(first=Min("due_date"))
        .values_list("loan_id", "first")
    )
    changed: list[Loan] = []
    entries: list[dict[str, Any]] = []
    with transaction.atomic():
        for loan in (
            Loan.objects.select_for_update(no_key=True)
            .filter(status__in=Loan.OPEN)
            .exclude(swept_on=today)
            .only("pk", "status", "days_past_due", "outstanding_principal", "area_code")
            .order_by("pk")
            .iterator(chunk_size=2000)
        ):
            days, status = loan_standing(loan, first_due.get(loan.pk), today)
            if (days, status) == (loan.days_past_due, loan.status):
                continue
            if status != loan.status:
                entries.append(
                    {
                        "action": "loan.standing",
                        "object_type": "loan",
                        "object_id": loan.pk,
                        "area_code": loan.area_code,
                        "from_state": loan.status,
                        "to_state": status,
                        "changes": {"days_past_due": [loan.days_past_due, days]},
                    }
                )
            loan.days_past_due, loan.status = days, status
            changed.append(loan)
        rows_update(changed, ["days_past_due", "status"])
        if entries:
            audit_records(actor=None, entries=entries)
        Loan.objects.filter(status__in=Loan.OPEN).exclude(swept_on=today).update(swept_on=today)
    return len(changed)


# --- the risk fund's compensation of a bad loan, and recoveries -----------------------------


def _date_checked(on: Any, loan: Loan) -> date:
    if not isinstance(on, date):
        raise InvalidInput({"date": [_("Give the date.")]})
    if on > clock.today() or on < loan.drawdown_date:
        raise InvalidInput({"date": [_("The date is between the drawdown and today.")]})
    return on


def loan_compensate(*, actor: Actor, loan_id: int, on: Any) -> FundMovement:
    """The fund's compensation of a bad loan (风险补偿), claimed by the lending bank's
    officer once the loan is at least ``compensation_after_days`` past due: the fund pays
    ``fund_share`` of the base (the outstanding principal, or with the interest due and
    unpaid, by the program's ``compensation_base``), the bank bears the rest. The loan
    becomes ``compensated``. Under the loan's lock, then the fund's; the balance never
    goes below zero; on the record."""
    with transaction.atomic():
        loan = _bank_loan_locked(actor, loan_id)
        day = _date_checked(on, loan)
        params = loan.program_version.loan
        if (
            loan.status != Loan.Status.OVERDUE
            or loan.days_past_due < params.compensation_after_days
        ):
            raise Refused(
                _(
                    "The fund compensates a loan %(days)s days past due; this one is "
                    "%(late)s days past due."
                )
                % {"days": params.compensation_after_days, "late": loan.days_past_due},
                code=Code.COMPENSATION_EARLY,
            )
        base = loan.outstanding_principal
        if params.compensation_base == params.Base.PRINCIPAL_AND_INTEREST:
            base += sum(
                (
                    i.interest - i.interest_paid
                    for i in Instalment.objects.filter(loan=loan, due_date__lte=day)
                ),
                ZERO,
            )
        share = params.fund_share
        paid = to_fen(base * share / 100)
        fund = fund_locked(loan.area_code[:6] + "000000")
        if paid > fund.balance:
            raise Refused(
                _("The fund holds %(balance)s yuan: it cannot pay %(paid)s.")
                % {"balance": fund.balance, "paid": paid},
                code=Code.FUND_CAPACITY,
            )
        fund.balance -= paid
        fund.save(update_fields=["balance"])
        movement = FundMovement.objects.create(
            fund=fund,
            kind=FundMovement.Kind.COMPENSATION,
            loan=loan,
            amount=paid,
            balance_after=fund.balance,
            source=loan.bank.name,
            document_number=loan.reference,
            date=day,
            created_by=person(actor),
        )
        before = loan.status
        loan.status = Loan.Status.COMPENSATED
        loan.compensation_base, loan.compensation_fund_share = base, share
        loan.compensation_paid, loan.compensated_on = paid, day
        loan.save()
        audit_record(
            actor=actor,
            action="loan.compensation",
            object_type="loan",
            object_id=loan.pk,
            area_code=loan.area_code,
            from_state=before,
            to_state=loan.status,
            changes={
                "base": [None, base],
                "fund_share": [None, share],
                "fund_pays": [None, paid],
                "bank_bears": [None, base - paid],
                "fund_balance": [fund.balance + paid, fund.balance],
            },
        )
    return movement


# A compensated loan, written off or not, may still have money recovered on it.
RECOVERABLE = (Loan.Status.COMPENSATED, Loan.Status.WRITTEN_OFF)


def loan_write_off(*, actor: Actor, loan_id: int, on: Any, reason: str) -> Loan:
    """The lending bank writes off (核销) a loan the fund compensated, with the reason: the
    loan is closed as ``written_off`` (recoveries may still come and are split as before).
    ``Refused`` (``wrong_state``) for any other loan. On the record."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Give the reason for the write-off.")]})
    with transaction.atomic():
        loan = _bank_loan_locked(actor, loan_id)
        day = _date_checked(on, loan)
        if loan.compensated_on is not None and day < loan.compensated_on:
            raise InvalidInput({"date": [_("A write-off is not dated before the compensation.")]})
        if loan.status != Loan.Status.COMPENSATED:
            raise Refused(
                _("Only a loan the fund compensated is written off; this one is %(s)s.")
                % {"s": loan.get_status_display()},
                code=Code.WRONG_STATE,
            )
        loan.status = Loan.Status.WRITTEN_OFF
        loan.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="loan.write_off",
            object_type="loan",
            object_id=loan.pk,
            area_code=loan.area_code,
            from_state=Loan.Status.COMPENSATED,
            to_state=loan.status,
            reason=reason[:500],
            changes={
                "date": [None, day.isoformat()],
                "outstanding_principal": [None, loan.outstanding_principal],
            },
        )
    return loan


def loan_recover(*, actor: Actor, loan_id: int, amount: Any, on: Any) -> FundMovement:
    """Money recovered on a compensated loan, reported by the lending bank's officer: split
    in the shares of the compensation, the fund's part returned to the fund (a movement),
    never more in all than the compensated base."""
    errors: dict[str, list[str]] = {}
    money = _figure(amount, "amount", errors)
    if not errors and money <= 0:
        errors["amount"] = [_("Give a positive amount in yuan and fen.")]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        loan = _bank_loan_locked(actor, loan_id)
        day = _date_checked(on, loan)
        base, share = loan.compensation_base, loan.compensation_fund_share
        if loan.status not in RECOVERABLE or base is None or share is None:
            raise Refused(
                _("Only a loan the fund compensated has recoveries."),
                code=Code.NOTHING_TO_RECOVER,
            )
        if loan.recovered + money > base:
            raise Refused(
                _("At most %(left)s yuan is left to recover on this loan.")
                % {"left": base - loan.recovered},
                code=Code.NOTHING_TO_RECOVER,
            )
        back = to_fen(money * share / 100)
        fund = fund_locked(loan.area_code[:6] + "000000")
        fund.balance += back
        fund.save(update_fields=["balance"])
        movement = FundMovement.objects.create(
            fund=fund,
            kind=FundMovement.Kind.RECOVERY,
            loan=loan,
            amount=back,
            balance_after=fund.balance,
            source=loan.bank.name,
            document_number=loan.reference,
            date=day,
            created_by=person(actor),
        )
        loan.recovered += money
        loan.save(update_fields=["recovered"])
        audit_record(
            actor=actor,
            action="loan.recovery",
            object_type="loan",
            object_id=loan.pk,
            area_code=loan.area_code,
            changes={
                "recovered": [None, money],
                "to_fund": [None, back],
                "to_bank": [None, money - back],
                "fund_balance": [fund.balance - back, fund.balance],
            },
        )
    return movement
