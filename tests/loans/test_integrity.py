"""``verify_audit`` replays the loans, the risk fund and the interest subsidy claims: a clean
history verifies, and a loan, a fund or a claim changed behind the services' back is named."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from audit.verify import Report, ledger_verify, replays
from common import clock
from loans.models import Loan, RiskFund, SubsidyClaim
from loans.services.servicing import loan_compensate, loan_recover, loan_repay, loans_sweep
from loans.services.subsidies import subsidy_settle
from tests.factories import COUNTY, World
from tests.loans.conftest import LoanWorld

TZ = ZoneInfo("Asia/Shanghai")


@contextmanager
def on(day: date) -> Iterator[None]:
    with clock.frozen_at(datetime(day.year, day.month, day.day, 10, tzinfo=TZ)):
        yield


def verify() -> Report:
    return ledger_verify(replayers=replays())


@pytest.fixture
def history(loans: LoanWorld, world: World) -> tuple[Loan, Loan]:
    """A loan repaid in part and settled, and a bad loan compensated and partly recovered."""
    with on(date(2026, 1, 5)):
        good, bad = loans.loan(), loans.loan()
    with on(date(2026, 3, 20)):
        loan_repay(
            actor=loans.officer,
            loan_id=good.pk,
            on=clock.today(),
            principal="500.00",
            interest="61.67",
        )
    with on(date(2026, 3, 21)):
        subsidy_settle(
            actor=world.user("finance_a"), county_code=COUNTY, period_end=date(2026, 3, 20)
        )
    with on(date(2026, 6, 18)):
        loans_sweep()
        loan_compensate(actor=loans.officer, loan_id=bad.pk, on=clock.today())
        loan_recover(actor=loans.officer, loan_id=bad.pk, amount="1000.00", on=clock.today())
    return good, bad


@pytest.mark.django_db
def test_a_clean_history_verifies(history: tuple[Loan, Loan]) -> None:
    good, _bad = history
    good.refresh_from_db()
    assert good.outstanding_principal == D("9500.00")
    assert SubsidyClaim.objects.count() == 2
    report = verify()
    assert report.ok, report.problems


@pytest.mark.django_db
def test_an_outstanding_principal_changed_in_the_database_is_named(
    history: tuple[Loan, Loan],
) -> None:
    good, _bad = history
    Loan.objects.filter(pk=good.pk).update(outstanding_principal=D("9000.00"))
    problems = verify().problems
    assert [p.kind for p in problems] == ["database differs"]
    assert (
        f"loan {good.reference} has principal 10000.00, outstanding 9000.00" in problems[0].detail
    )
    assert "9500.00 by its audit trail" in problems[0].detail


@pytest.mark.django_db
def test_a_fund_balance_changed_in_the_database_is_named(history: tuple[Loan, Loan]) -> None:
    fund = RiskFund.objects.get(county_id=COUNTY)
    RiskFund.objects.filter(pk=fund.pk).update(balance=fund.balance + 100000)
    problems = verify().problems
    assert len(problems) == 1
    assert f"the risk fund of {COUNTY} holds {fund.balance + 100000}" in problems[0].detail
    assert f"{fund.balance} by its movements and {fund.balance} by its audit trail" in (
        problems[0].detail
    )


@pytest.mark.django_db
def test_a_claim_cut_in_the_database_is_named(history: tuple[Loan, Loan]) -> None:
    claim = SubsidyClaim.objects.filter(amount__gt=0).get()
    SubsidyClaim.objects.filter(pk=claim.pk).update(amount=claim.amount - 10)
    problems = verify().problems
    assert len(problems) == 1
    assert f"claims of {COUNTY} settled on 2026-03-20 are 2, 51.67 in the database but 2, " in (
        problems[0].detail
    )


@pytest.mark.django_db
def test_a_claim_approved_or_paid_behind_the_services_back_is_named(
    history: tuple[Loan, Loan],
) -> None:
    claim = SubsidyClaim.objects.filter(amount__gt=0).get()
    SubsidyClaim.objects.filter(pk=claim.pk).update(status=SubsidyClaim.Status.PAID)
    details = [p.detail for p in verify().problems]
    assert details == [
        f"interest subsidy claim {claim.pk} is paid at 61.67 in the database but never "
        "approved by the audit trail",
        f"interest subsidy claim {claim.pk} is paid 61.67 in the database but never paid by "
        "the audit trail",
    ]
