"""The county's interest subsidy (财政贴息) on poverty microloans: the settlement that makes a
claim for each interest period ending by a settlement day, the second official's approval,
and the payment (to the household through a payment round, 先收后贴; or to the bank, by
the county's transfer against the bank's list).

DOMAIN rule 7: only interest paid on time is subsidised, never overdue or penalty interest.
The subsidy of a period is interest on ``min(principal owed, subsidy_principal_cap)`` at
``min(contract rate, reference rate in force)`` for the period's days under the loan's day
count, times ``subsidy_share``; never more than the period's interest. A period whose
interest was not paid in full by its due date plus ``grace_days`` gets nothing, with its
reason (``overdue``: paid late; ``not_paid``: not paid in full)."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from applications.models import Area, Bank, Program
from applications.roles import Role
from applications.selectors import has_role_in
from approvals import policy
from approvals.selectors import applications_recused, card_facts_of
from audit.hashing import canonical_json
from audit.services import audit_record, audit_records
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refusal, Refused
from common.rows import rows_insert
from loans.models import Instalment, LoanParameters, ReferenceRate, SubsidyClaim
from loans.schedules import INTEREST_DAY, INTEREST_MONTHS, fen
from loans.selectors import reference_kind, subsidy_claims_visible_to
from payments import hooks
from payments.models import PaymentLine

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Who settles and approves claims: the county's officials who handle its money.
SETTLERS = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)
BATCH = 5000
S = SubsidyClaim.Status
R = SubsidyClaim.Reason
Settlement = LoanParameters.Settlement


def is_settlement_day(day: date) -> bool:
    """The banks' quarterly interest days (the 20th of March, June, September, December)
    are the settlement days; 20 December is the yearly one."""
    return day.day == INTEREST_DAY and day.month in INTEREST_MONTHS


def settlement_day_problem(day: date, today: date) -> str | None:
    """Why ``day`` may not be settled on ``today`` (None: it may)."""
    if not is_settlement_day(day):
        return _("Settle on a settlement day: the 20th of March, June, September or December.")
    if day > today:
        return _("A settlement day is settled once it has come, not before.")
    return None


def _county(actor: Actor, county_code: str) -> Area:
    county = Area.objects.filter(code=county_code, level=Area.Level.COUNTY).first()
    if county is None:
        raise InvalidInput({"county": [_("Choose a county.")]})
    if not any(has_role_in(actor, role, county.code) for role in SETTLERS):
        raise Forbidden(_("Only the county approver or a finance officer of the county does this."))
    return county


class _Rates:
    """The published reference rates, loaded once: the rate of a kind in force on a day."""

    def __init__(self) -> None:
        self.by_kind: dict[str, tuple[list[date], list[Decimal]]] = {}
        for kind, day, rate in ReferenceRate.objects.order_by("kind", "effective_from").values_list(
            "kind", "effective_from", "rate"
        ):
            days, rates = self.by_kind.setdefault(kind, ([], []))
            days.append(day)
            rates.append(rate)

    def on(self, kind: str, day: date) -> Decimal | None:
        days, rates = self.by_kind.get(kind, ([], []))
        i = bisect.bisect_right(days, day)
        return rates[i - 1] if i else None


def subsidy_for(
    *,
    balance: Decimal,
    cap: Decimal,
    contract_rate: Decimal,
    reference_rate: Decimal,
    days: int,
    interest: Decimal,
    share: Decimal,
) -> tuple[Decimal, Decimal, Decimal]:
    """The subsidy of one interest period paid on time: (principal subsidised, rate
    subsidised, amount). Interest on the principal up to the cap, at the lower rate, for
    the days, never more than the period's interest, times the share; rounded to the fen
    once, at the end."""
    base = min(balance, cap)
    rate = min(contract_rate, reference_rate)
    exact = base * rate / HUNDRED * Decimal(days) / Decimal(360)  # rounded once, at the end
    amount = fen(min(exact, interest) * share / HUNDRED)
    return base, rate, amount


def claim_decision(
    *,
    interest: Decimal,
    interest_paid: Decimal,
    interest_paid_on: date | None,
    due_date: date,
    grace_days: int,
    today: date,
) -> str | None:
    """Whether a period's interest earns its subsidy: "" (it does), ``overdue`` (paid in full
    after its due date plus the grace days), ``not_paid`` (not paid in full when the grace
    ended), or None (not decided yet: the household may still pay in time)."""
    deadline = due_date + timedelta(days=grace_days)
    if interest_paid_on is not None and interest_paid >= interest:
        return "" if interest_paid_on <= deadline else R.OVERDUE
    if deadline >= today:
        return None
    return R.NOT_PAID


@dataclass
class SettleOutcome:
    county: str
    period_end: date
    claims: int = 0
    eligible: int = 0
    total: Decimal = ZERO
    ineligible: dict[str, int] | None = None
    waiting: int = 0  # periods not decided yet (within their grace days)
    digest: str = ""


def _due_periods(prefix: str, period_end: date) -> Iterator[list[tuple[Any, ...]]]:
    """The interest periods of the county's loans due by the settlement day and not claimed
    yet, of the loans that settle on that day (quarterly on each settlement day, yearly on
    20 December, at maturity once the loan has matured), in batches by key: their keys
    are read first, then each batch whole (by a range of the key) before its claims are
    written."""
    rule = Q(
        loan__program_version__loan__settlement=Settlement.AT_MATURITY,
        loan__maturity_date__lte=period_end,
    ) | Q(loan__program_version__loan__settlement=Settlement.QUARTERLY)
    if period_end.month == 12:
        rule |= Q(loan__program_version__loan__settlement=Settlement.YEARLY)
    due = Instalment.objects.filter(
        rule,
        loan__area_code__startswith=prefix,
        due_date__lte=period_end,
        subsidy_claim__isnull=True,
    )
    keys = list(due.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        yield list(
            due.filter(pk__gte=chunk[0], pk__lte=chunk[-1])
            .order_by("pk")
            .values_list(
                "pk",
                "loan_id",
                "start_date",
                "due_date",
                "days",
                "balance_before",
                "interest",
                "interest_paid",
                "interest_paid_on",
                "loan__bank_id",
                "loan__area_code",
                "loan__annual_rate",
                "loan__reference_rate",
                "loan__months",
                "loan__program_version_id",
            )
        )


def _params(version_ids: Iterable[int]) -> dict[int, LoanParameters]:
    return {p.version_id: p for p in LoanParameters.objects.filter(version_id__in=set(version_ids))}


def subsidy_settle(*, actor: Actor, county_code: str, period_end: date) -> SettleOutcome:
    """Settle the county's interest subsidy on a settlement day: one claim for each interest
    period due by then and not claimed yet, whose outcome is decided (paid in full, or its
    grace over).

    Guarantees: by the county approver or a finance officer of the county (``Forbidden``);
    a settlement day that has come (``InvalidInput``, ``settlement_date``); one claim per
    period, ever: settling again makes only the claims decided since (nothing, when
    nothing changed), and two settlements at once make each claim once (the county row is
    locked); each run is on the record with its counts, total and the SHA-256 of its claims
    (every claim's period, amount and reason)."""
    settler = person(actor)
    county = _county(actor, county_code)
    problem = settlement_day_problem(period_end, clock.today())
    if problem:
        raise InvalidInput({"period_end": [problem]}, code=Code.SETTLEMENT_DATE)
    out = SettleOutcome(county=county.code, period_end=period_end, ineligible={})
    today = clock.today()
    digest = hashlib.sha256()
    with transaction.atomic():
        Area.objects.select_for_update(no_key=True).filter(code=county.code).first()
        rates = _Rates()
        params: dict[int, LoanParameters] = {}
        now = clock.now()
        for rows in _due_periods(county.prefix, period_end):
            params.update(_params({row[14] for row in rows} - params.keys()))
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                claim = _claim(row, params[row[14]], rates, period_end, today)
                if claim is None:
                    out.waiting += 1
                else:
                    batch.append((*claim, settler.pk, now, None, None, None, ""))
            _save(batch, out, digest)
        out.digest = digest.hexdigest()
        if out.claims:
            audit_record(
                actor=actor,
                action="interest_subsidy.settle",
                object_type="county",
                object_id=county.code,
                area_code=county.code,
                changes={
                    "period_end": [None, period_end.isoformat()],
                    "claims": [None, out.claims],
                    "eligible": [None, out.eligible],
                    "total": [None, out.total],
                    "ineligible": [None, out.ineligible],
                    "claims_sha256": [None, out.digest],
                },
            )
    return out


# The columns a settlement writes, in the order of ``_claim``'s values and then the
# settler, the time, and the approval and payment left empty.
CLAIM_FIELDS = (
    "instalment_id",
    "loan_id",
    "bank_id",
    "area_code",
    "period_end",
    "payee",
    "start_date",
    "due_date",
    "days",
    "base",
    "rate",
    "share",
    "interest",
    "interest_paid",
    "interest_paid_on",
    "amount",
    "reason",
    "status",
    "settled_by_id",
    "settled_at",
    "approved_by_id",
    "approved_at",
    "paid_at",
    "paid_reference",
)
_AMOUNT, _REASON = CLAIM_FIELDS.index("amount"), CLAIM_FIELDS.index("reason")


def _claim(
    row: tuple[Any, ...],
    p: LoanParameters,
    rates: _Rates,
    period_end: date,
    today: date,
) -> tuple[Any, ...] | None:
    """The claim of one interest period (the values of ``CLAIM_FIELDS`` up to ``status``),
    or None while it is undecided."""
    (
        inst_id,
        loan_id,
        start,
        due,
        days,
        balance,
        interest,
        paid,
        paid_on,
        bank_id,
        area_code,
        contract,
        priced_on,
        months,
        _version,
    ) = row
    decision = claim_decision(
        interest=interest,
        interest_paid=paid,
        interest_paid_on=paid_on,
        due_date=due,
        grace_days=p.grace_days,
        today=today,
    )
    if decision is None:
        return None
    reference = rates.on(reference_kind(p.rate_rule, months), start) or priced_on
    base, rate, amount = subsidy_for(
        balance=balance,
        cap=p.subsidy_principal_cap,
        contract_rate=contract,
        reference_rate=reference,
        days=days,
        interest=interest,
        share=p.subsidy_share,
    )
    reason = decision or ("" if amount > 0 else R.NOTHING)
    return (
        inst_id,
        loan_id,
        bank_id,
        area_code,
        period_end,
        p.payee,
        start,
        due,
        days,
        base,
        rate,
        p.subsidy_share,
        interest,
        paid,
        paid_on,
        ZERO if reason else amount,
        reason,
        S.INELIGIBLE if reason else S.PENDING,
    )


def _save(batch: list[tuple[Any, ...]], out: SettleOutcome, digest: Any) -> None:
    if not batch:
        return
    rows_insert(SubsidyClaim, CLAIM_FIELDS, batch)
    ineligible = out.ineligible if out.ineligible is not None else {}
    for claim in batch:
        out.claims += 1
        amount, reason = claim[_AMOUNT], claim[_REASON]
        if reason:
            ineligible[reason] = ineligible.get(reason, 0) + 1
        else:
            out.eligible += 1
            out.total += amount
        digest.update(canonical_json([claim[0], str(amount), reason]).encode())
    out.ineligible = ineligible


# --- approval -------------------------------------------------------------------------


def _approvable(actor: Actor, approver_id: int, claim: SubsidyClaim) -> Refusal | None:
    if claim.status != S.PENDING:
        return Refusal(
            Code.WRONG_STATE,
            _("Only a claim awaiting approval is approved; this one is %(status)s.")
            % {"status": claim.get_status_display()},
        )
    if claim.settled_by_id == approver_id:
        return Refusal(Code.SEPARATION_OF_DUTIES, _("Whoever settled a claim may not approve it."))
    if not any(has_role_in(actor, role, claim.area_code[:6] + "000000") for role in SETTLERS):
        return Refusal(
            Code.ROLE, _("Only the county approver or a finance officer of the county approves.")
        )
    return None


def _approve_entries(claims: Sequence[SubsidyClaim]) -> list[dict[str, Any]]:
    return [
        {
            "action": "subsidy_claim.approve",
            "object_type": "subsidy_claim",
            "object_id": claim.pk,
            "area_code": claim.area_code,
            "from_state": S.PENDING,
            "to_state": S.APPROVED,
            "changes": {"loan": [None, claim.loan_id], "amount": [None, claim.amount]},
        }
        for claim in claims
    ]


def subsidy_claim_approve(*, actor: Actor, claim_id: int) -> SubsidyClaim:
    """Approve one claim: a county official other than whoever settled it
    (``separation_of_duties``), a claim awaiting approval (``wrong_state``). Audited."""
    approver = person(actor)
    with transaction.atomic():
        claim = (
            subsidy_claims_visible_to(actor)
            .select_for_update(no_key=True)
            .filter(pk=claim_id)
            .first()
        )
        if claim is None:
            raise NotFound(_("No such claim in your area."))
        refusal = _approvable(actor, approver.pk, claim)
        if refusal is not None:
            if refusal.code == Code.ROLE:
                raise Forbidden(refusal.message)
            raise refusal.refused()
        claim.status, claim.approved_by, claim.approved_at = S.APPROVED, approver, clock.now()
        claim.save(update_fields=["status", "approved_by", "approved_at"])
        audit_records(actor=actor, entries=_approve_entries([claim]))
    return claim


@dataclass
class ApproveOutcome:
    approved: int
    total: Decimal
    skipped: dict[str, int]


def subsidy_claims_approve(
    *, actor: Actor, county_code: str, period_end: date, bank_code: str = "", payee: str = ""
) -> ApproveOutcome:
    """Approve every claim of a settlement awaiting approval (of one bank's loans, when
    given) that this official may approve; the others are counted by the code of why not.
    ``Refused`` (``nothing_payable``) when none is approvable."""
    approver = person(actor)
    county = _county(actor, county_code)
    with transaction.atomic():
        qs = subsidy_claims_visible_to(actor).filter(
            area_code__startswith=county.prefix, period_end=period_end, status=S.PENDING
        )
        if bank_code:
            qs = qs.filter(bank__code=bank_code)
        if payee:
            qs = qs.filter(payee=payee)
        claims = list(qs.select_for_update(no_key=True).order_by("pk"))
        skipped: dict[str, int] = {}
        chosen: list[SubsidyClaim] = []
        for claim in claims:
            refusal = _approvable(actor, approver.pk, claim)
            if refusal is None:
                chosen.append(claim)
            else:
                skipped[str(refusal.code)] = skipped.get(str(refusal.code), 0) + 1
        if not chosen:
            if skipped.get(str(Code.SEPARATION_OF_DUTIES)):
                raise Refused(
                    _("Whoever settled a claim may not approve it."),
                    code=Code.SEPARATION_OF_DUTIES,
                )
            raise Refused(
                _("No claim of this settlement awaits your approval."),
                code=Code.NOTHING_PAYABLE,
            )
        now = clock.now()
        for claim in chosen:
            claim.status, claim.approved_by, claim.approved_at = S.APPROVED, approver, now
        SubsidyClaim.objects.bulk_update(chosen, ["status", "approved_by", "approved_at"])
        audit_records(actor=actor, entries=_approve_entries(chosen))
    return ApproveOutcome(
        approved=len(chosen), total=sum((c.amount for c in chosen), ZERO), skipped=skipped
    )


# --- payment ---------------------------------------------------------------------------


def _household_payables(
    actor: Actor, program: Program, prefix: str, ids: Collection[int] | None
) -> list[hooks.Payable]:
    """The approved household claims of the loan program in the area, locked, each with
    why it may not be paid now: the officer is recused from the household; in another open
    round; the bank returned its last payment and the card and the name on it are unchanged;
    the card rules (the head's card, a hold after a change)."""
    qs = subsidy_claims_visible_to(actor).filter(
        loan__program_version__program=program,
        area_code__startswith=prefix,
        status=S.APPROVED,
        payee=LoanParameters.Payee.HOUSEHOLD,
    )
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    claims = list(
        qs.select_for_update(no_key=True, of=("self",))
        .select_related("loan__application__household", "loan__application__program_version")
        .order_by("pk")
    )
    if not claims:
        return []
    lines: dict[int, PaymentLine] = {}
    for line in (
        PaymentLine.objects.filter(claim_id__in=[c.pk for c in claims])
        .exclude(status=PaymentLine.Status.WITHDRAWN)
        .order_by("pk")
    ):
        lines[line.claim_id or 0] = line
    apps = list({c.loan.application.pk: c.loan.application for c in claims}.values())
    cards = card_facts_of(apps)
    recused = applications_recused(actor, apps)
    now = clock.now()
    out: list[hooks.Payable] = []
    for claim in claims:
        app = claim.loan.application
        household = app.household
        last = lines.get(claim.pk)
        refusal: Refusal | None
        if app.pk in recused:
            refusal = policy.recusal_refusal()
        elif last is not None and last.status in PaymentLine.HOLDING:
            refusal = Refusal(Code.IN_OPEN_ROUND, _("It is already in another open payment round."))
        elif (
            last is not None
            and last.status == PaymentLine.Status.FAILED
            and last.card_hash == household.bank_card_hash
            and last.payee_name == (household.bank_card_holder or household.head_name)
        ):
            refusal = Refusal(
                Code.PAYMENT_FAILED,
                _(
                    "The bank returned its last payment (%(reason)s); correct the card or the "
                    "name on it before it is paid again."
                )
                % {"reason": last.failure_reason},
            )
        else:
            refusal = policy.card_refusal(cards[app.pk], actor, now=now)
        out.append(hooks.Payable(claim.pk, app, claim.amount, refusal))
    return out


def _household_paid(actor: Actor, paid: Sequence[hooks.ClaimPaid]) -> None:
    """The claims the bank paid to the households (its return file): paid, on the record
    with the line and the amount."""
    by_id = {p.claim_id: p for p in paid}
    claims = list(
        SubsidyClaim.objects.select_for_update(no_key=True).filter(pk__in=by_id).order_by("pk")
    )
    _claims_paid(
        actor,
        claims,
        {
            claim.pk: {
                "payment_line": [None, by_id[claim.pk].line_reference],
                "paid_amount": [None, by_id[claim.pk].amount],
                "bank_txn_id": [None, by_id[claim.pk].bank_txn_id],
            }
            for claim in claims
        },
        {claim.pk: by_id[claim.pk].line_reference for claim in claims},
    )


def _claims_paid(
    actor: Actor,
    claims: Sequence[SubsidyClaim],
    changes: dict[int, dict[str, Any]],
    references: dict[int, str],
) -> None:
    """The claims paid now (each with what paid it), and each payment on the record."""
    now = clock.now()
    for claim in claims:
        claim.status, claim.paid_at, claim.paid_reference = S.PAID, now, references[claim.pk]
    SubsidyClaim.objects.bulk_update(claims, ["status", "paid_at", "paid_reference"])
    audit_records(
        actor=actor,
        entries=[
            {
                "action": "subsidy_claim.pay",
                "object_type": "subsidy_claim",
                "object_id": claim.pk,
                "area_code": claim.area_code,
                "from_state": S.APPROVED,
                "to_state": S.PAID,
                "changes": changes[claim.pk],
            }
            for claim in claims
        ],
    )


@dataclass
class TransferOutcome:
    bank: str
    claims: int
    total: Decimal


def subsidy_bank_transfer(
    *,
    actor: Actor,
    county_code: str,
    period_end: date,
    bank_code: str,
    document_number: str,
    on: date,
    total: Decimal,
) -> TransferOutcome:
    """The county paid a bank its approved claims of a settlement (the subsidy paid to the
    bank, against its signed 贴息清单): they become paid with the transfer's document.
    By a finance officer of the county; dated between the settlement day and today;
    ``total`` is the signed list's, and it must be what the approved claims add up to now
    (``Refused``, ``transfer_total``: a claim approved after the list was signed, or a list
    of another day); ``Refused`` (``nothing_payable``) when no approved bank claim of that
    bank and settlement is unpaid. Each claim's payment is on the record, and the transfer
    with its total and the SHA-256 of the claims it paid."""
    person(actor)
    county = _county(actor, county_code)
    errors: dict[str, list[str]] = {}
    if not (document_number or "").strip():
        errors["document_number"] = [_("Give the number of the transfer's document.")]
    elif len(document_number.strip()) > 100:
        errors["document_number"] = [_("At most 100 characters.")]
    if on > clock.today():
        errors["date"] = [_("A transfer is not dated in the future.")]
    elif on < period_end:
        errors["date"] = [_("A transfer is not dated before its settlement day.")]
    bank = Bank.objects.filter(code=bank_code).first()
    if bank is None:
        errors["bank"] = [_("No such bank.")]
    if errors or bank is None:
        raise InvalidInput(errors)
    if not has_role_in(actor, Role.FINANCE_OFFICER, county.code):
        raise Forbidden(_("Only a finance officer of the county records a transfer."))
    with transaction.atomic():
        claims = list(
            SubsidyClaim.objects.select_for_update(no_key=True)
            .filter(
                area_code__startswith=county.prefix,
                period_end=period_end,
                bank=bank,
                payee=LoanParameters.Payee.BANK,
                status=S.APPROVED,
            )
            .order_by("pk")
        )
        if not claims:
            raise Refused(
                _("No approved claim of this bank and settlement is waiting to be paid."),
                code=Code.NOTHING_PAYABLE,
            )
        owed = sum((c.amount for c in claims), ZERO)
        if owed != total:
            raise Refused(
                _(
                    "The approved claims of this bank and settlement add up to %(owed)s yuan, "
                    "not the %(total)s on the list: print the list again and have it signed."
                )
                % {"owed": owed, "total": total},
                code=Code.TRANSFER_TOTAL,
            )
        reference = document_number.strip()
        _claims_paid(
            actor,
            claims,
            {
                c.pk: {"paid_reference": [None, reference], "paid_amount": [None, c.amount]}
                for c in claims
            },
            dict.fromkeys((c.pk for c in claims), reference),
        )
        audit_record(
            actor=actor,
            action="interest_subsidy.bank_transfer",
            object_type="bank",
            object_id=bank.code,
            area_code=county.code,
            changes={
                "period_end": [None, period_end.isoformat()],
                "claims": [None, len(claims)],
                "total": [None, owed],
                "claims_sha256": [None, _ids_digest(c.pk for c in claims)],
                "document_number": [None, reference],
                "date": [None, on.isoformat()],
            },
        )
    return TransferOutcome(bank=bank.code, claims=len(claims), total=owed)


def _ids_digest(ids: Iterable[int]) -> str:
    return hashlib.sha256(canonical_json(sorted(ids)).encode()).hexdigest()


def register() -> None:
    """Household claims are paid through the loan program's payment rounds."""
    hooks.on_claims(Program.Kind.LOAN, hooks.Payer(_household_payables, _household_paid))
