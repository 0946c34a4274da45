"""Replaying the loans from the audit trail (``verify_audit``):

- every loan's principal is what its drawdown recorded, and its outstanding principal is
  that principal less the principal its recorded repayments paid;
- every county fund's balance is what its recorded movements (deposits, the fund's part of
  compensations, recoveries returned) leave, and what its movement rows add up to;
- the interest subsidy claims of each county are as many, and add up to as much, as its
  recorded settlements said.

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
        self.claims: dict[str, _Tally] = {}  # by county: the claims settled
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
        elif action == "interest_subsidy.settle":
            changes = entry.changes_value()
            count = change_after(changes, "claims")
            tally = self.claims.setdefault(entry.object_id, _Tally(entry))
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
        counties: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, ZERO))
        rows = (
            SubsidyClaim.objects.values("area_code")
            .annotate(n=Count("pk"), s=Sum("amount"))
            .values_list("area_code", "n", "s")
        )
        for area_code, n, s in rows:
            count, total = counties[_county(area_code)]
            counties[_county(area_code)] = (count + n, total + _fen(s))
        for county in counties.keys() | self.claims.keys():
            count, total = counties.get(county, (0, ZERO))
            tally = self.claims.get(county)
            want = (tally.count, tally.amount) if tally else (0, ZERO)
            if (count, total) != want:
                detail = (
                    f"the interest subsidy claims of {county} are {count}, {total} in the "
                    f"database but {want[0]}, {want[1]} by its settlements on the audit trail"
                )
                if tally is not None:
                    yield differs(tally.where, detail)
                else:
                    yield Problem(county[:6], None, None, "database differs", detail)
