"""Replaying the loans from the audit trail (``verify_audit``):

- every loan's principal is what its drawdown recorded, and its outstanding principal is
  that principal less the principal its recorded repayments paid;
- every county fund's balance is what its recorded movements (deposits, the fund's part of
  compensations, recoveries returned) leave, and what its movement rows add up to;
- the interest subsidy claims of each county and settlement day are as many, and add up
  to as much, as its recorded settlements said; every approved or paid claim was recorded
  approved, and every paid one recorded paid, at its amount (and nothing recorded paid is
  unpaid).

A loan, a fund or a claim edited by SQL is caught here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from audit.models import AuditEntry
from audit.verify import Entry, Problem, change_after, differs, money_of
from loans.models import FundMovement, Loan, RiskFund, SubsidyClaim

_DONE = AuditEntry.Outcome.DONE.value
ZERO = Decimal("0.00")
# Movements that take money out of a fund; the others put it in.
_OUT = (FundMovement.Kind.COMPENSATION,)


def _fen(value: object) -> Decimal:
    """A database sum to the fen (SQLite sums decimals as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _county(area_code: str) -> str:
    return area_code[:6] + "000000"


@dataclass
class _Loan:
    drawn: Decimal | None
    where: Entry
    repaid: Decimal = ZERO


@dataclass
class _Tally:
    where: Entry
    count: int = 0
    amount: Decimal = ZERO


class LoanReplay:
    def __init__(self) -> None:
        self.loans: dict[str, _Loan] = {}  # by loan (its application's id)
        self.funds: dict[str, _Tally] = {}  # by county: the balance
        self.claims: dict[tuple[str, str], _Tally] = {}  # by county and day: the settled
        self.approved: dict[str, tuple[Decimal | None, Entry]] = {}  # by claim
        self.paid: dict[str, tuple[Decimal | None, Entry]] = {}  # by claim
        self.broken: list[Problem] = []

    def feed(self, entry: Entry) -> None:
        if entry.outcome != _DONE:
            return
        action = entry.action
        if action == "application.disburse" and '"loan":' in entry.changes:
            principal = money_of(change_after(entry.changes_value(), "principal"))
            self.loans[entry.object_id] = _Loan(principal, entry)
        elif action == "loan.repayment":
            self._repaid(entry)
        elif action == "risk_fund.deposit":
            self._fund(entry.object_id, "amount", entry, +1)
        elif action == "loan.compensation":
            self._fund(_county(entry.area_code), "fund_pays", entry, -1)
        elif action == "loan.recovery":
            self._fund(_county(entry.area_code), "to_fund", entry, +1)
        elif action == "subsidy_claim.approve":
            amount = money_of(change_after(entry.changes_value(), "amount"))
            self.approved[entry.object_id] = (amount, entry)
        elif action == "subsidy_claim.pay":
            amount = money_of(change_after(entry.changes_value(), "paid_amount"))
            self.paid[entry.object_id] = (amount, entry)
        elif action == "interest_subsidy.settle":
            changes = entry.changes_value()
            count = change_after(changes, "claims")
            day = str(change_after(changes, "period_end"))
            tally = self.claims.setdefault((entry.object_id, day), _Tally(entry))
            tally.count += int(str(count)) if str(count).isdigit() else 0
            tally.amount += money_of(change_after(changes, "total")) or ZERO
            tally.where = entry

    def _repaid(self, entry: Entry) -> None:
        loan = self.loans.get(entry.object_id)
        paid = money_of(change_after(entry.changes_value(), "applied_principal"))
        if loan is None or paid is None:
            self.broken.append(
                differs(entry, f"loan {entry.object_id} repaid before any drawdown is recorded")
            )
            return
        loan.repaid += paid
        loan.where = entry

    def _fund(self, county: str, key: str, entry: Entry, sign: int) -> None:
        tally = self.funds.setdefault(county, _Tally(entry))
        tally.amount += sign * (money_of(change_after(entry.changes_value(), key)) or ZERO)
        tally.where = entry

    def problems(self) -> Iterator[Problem]:
        yield from self.broken
        yield from self._loan_problems()
        yield from self._fund_problems()
        yield from self._claim_problems()

    def _loan_problems(self) -> Iterator[Problem]:
        seen: set[str] = set()
        rows = Loan.objects.values_list(
            "pk", "reference", "area_code", "principal", "outstanding_principal"
        )
        for pk, reference, area_code, principal, outstanding in rows.iterator(chunk_size=5000):
            seen.add(str(pk))
            loan = self.loans.get(str(pk))
            if loan is None:
                yield Problem(
                    area_code[:6],
                    None,
                    None,
                    "unrecorded",
                    f"loan {reference} has no drawdown on the audit trail",
                )
                continue
            want = loan.drawn - loan.repaid if loan.drawn is not None else None
            if loan.drawn != principal or want != outstanding:
                yield differs(
                    loan.where,
                    f"loan {reference} has principal {principal}, outstanding {outstanding} in "
                    f"the database but {loan.drawn}, {want} by its audit trail",
                )
        for key in self.loans.keys() - seen:
            yield differs(
                self.loans[key].where,
                f"the loan of application {key} is drawn by the audit trail but not in the "
                "database",
            )

    def _fund_problems(self) -> Iterator[Problem]:
        moved = {
            fund: _fen(into) - _fen(out)
            for fund, into, out in FundMovement.objects.values("fund")
            .annotate(
                into=Sum("amount", filter=~Q(kind__in=_OUT)),
                out=Sum("amount", filter=Q(kind__in=_OUT)),
            )
            .values_list("fund", "into", "out")
        }
        for county, balance in RiskFund.objects.values_list("county_id", "balance"):
            tally = self.funds.get(county)
            want = tally.amount if tally else ZERO
            if balance != want or balance != moved.get(county, ZERO):
                detail = (
                    f"the risk fund of {county} holds {balance} in the database, "
                    f"{moved.get(county, ZERO)} by its movements and {want} by its audit trail"
                )
                if tally is not None:
                    yield differs(tally.where, detail)
                else:
                    yield Problem(county[:6], None, None, "database differs", detail)

    def _claim_problems(self) -> Iterator[Problem]:
        settled: dict[tuple[str, str], tuple[int, Decimal]] = defaultdict(lambda: (0, ZERO))
        rows = (
            SubsidyClaim.objects.values("area_code", "period_end")
            .annotate(n=Count("pk"), s=Sum("amount"))
            .values_list("area_code", "period_end", "n", "s")
        )
        for area_code, day, n, s in rows:
            key = (_county(area_code), day.isoformat())
            count, total = settled[key]
            settled[key] = (count + n, total + _fen(s))
        for key in settled.keys() | self.claims.keys():
            count, total = settled.get(key, (0, ZERO))
            tally = self.claims.get(key)
            want = (tally.count, tally.amount) if tally else (0, ZERO)
            if (count, total) != want:
                detail = (
                    f"the interest subsidy claims of {key[0]} settled on {key[1]} are {count}, "
                    f"{total} in the database but {want[0]}, {want[1]} by its settlements on "
                    "the audit trail"
                )
                if tally is not None:
                    yield differs(tally.where, detail)
                else:
                    yield Problem(key[0][:6], None, None, "database differs", detail)
        yield from self._claim_state_problems()

    def _claim_state_problems(self) -> Iterator[Problem]:
        seen_paid: set[str] = set()
        rows = SubsidyClaim.objects.exclude(
            status__in=(SubsidyClaim.Status.INELIGIBLE, SubsidyClaim.Status.PENDING)
        ).values_list("pk", "area_code", "status", "amount")
        for pk, area_code, status, amount in rows.iterator(chunk_size=5000):
            key = str(pk)
            approved = self.approved.get(key)
            if approved is None or approved[0] != amount:
                detail = (
                    f"interest subsidy claim {pk} is {status} at {amount} in the database but "
                    + ("never approved" if approved is None else f"approved at {approved[0]}")
                    + " by the audit trail"
                )
                if approved is None:
                    yield Problem(area_code[:6], None, None, "database differs", detail)
                else:
                    yield differs(approved[1], detail)
            if status == SubsidyClaim.Status.PAID:
                seen_paid.add(key)
                paid = self.paid.get(key)
                if paid is None or paid[0] != amount:
                    detail = (
                        f"interest subsidy claim {pk} is paid {amount} in the database but "
                        + ("never paid" if paid is None else f"paid {paid[0]}")
                        + " by the audit trail"
                    )
                    if paid is None:
                        yield Problem(area_code[:6], None, None, "database differs", detail)
                    else:
                        yield differs(paid[1], detail)
        for key in self.paid.keys() - seen_paid:
            yield differs(
                self.paid[key][1],
                f"interest subsidy claim {key} is paid by the audit trail but not in the database",
            )
