"""Servicing loans: repayments applied by the waterfall, the bank's repayment file, the
daily sweep of days past due, and who reads and writes loans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditEntry
from common import clock
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from loans.models import FundMovement, Instalment, Loan, Repayment, RiskFund
from loans.selectors import loans_visible_to
from loans.services.servicing import (
    loan_compensate,
    loan_recover,
    loan_repay,
    loan_write_off,
    loans_sweep,
    repayments_import,
)
from tests.factories import COUNTY, World, race
from tests.loans.conftest import LoanWorld, S, make_loan_world

TZ = ZoneInfo("Asia/Shanghai")
DRAWN = date(2026, 1, 5)


@contextmanager
def on(day: date) -> Iterator[None]:
    with clock.frozen_at(datetime(day.year, day.month, day.day, 10, tzinfo=TZ)):
        yield


@pytest.fixture
def loan(loans: LoanWorld) -> Loan:
    """10,000 yuan at 3% for 36 months, interest quarterly on the 20th, drawn 2026-01-05."""
    with on(DRAWN):
        return loans.loan()


def _rows(loan: Loan) -> list[Instalment]:
    return list(Instalment.objects.filter(loan=loan).order_by("seq"))


@pytest.mark.django_db
def test_the_schedule_is_the_programs_interest_only_one(loan: Loan) -> None:
    rows = _rows(loan)
    # 74 days from 5 January to 20 March at 3% a year on 10,000 (act/360): 61.67.
    assert (rows[0].due_date, rows[0].days, rows[0].interest) == (date(2026, 3, 20), 74, D("61.67"))
    # 92 days to 20 June: 76.67.
    assert (rows[1].days, rows[1].interest) == (92, D("76.67"))
    assert rows[-1].due_date == date(2029, 1, 5) and rows[-1].principal == D("10000.00")
    assert loan.annual_rate == D("3.0000")  # the factory's rate, under the 3.5% cap


@pytest.mark.django_db
def test_a_repayment_pays_overdue_interest_first_then_principal(
    loans: LoanWorld, loan: Loan
) -> None:
    rows = _rows(loan)
    first, second = rows[0].interest, rows[1].interest
    with on(date(2026, 6, 25)):
        # Nothing paid in March: the first instalment is overdue by 97 days.
        assert loans_sweep() == 1
        loan.refresh_from_db()
        assert (loan.status, loan.days_past_due) == (Loan.Status.OVERDUE, 97)
        # The bank calls it all principal; it pays both interests first.
        paid = loan_repay(
            actor=loans.officer,
            loan_id=loan.pk,
            on=clock.today(),
            principal=first + second + D("100.00"),
            interest="0",
            penalty="3.20",
        )
    assert (paid.applied_interest, paid.applied_principal) == (first + second, D("100.00"))
    rows = _rows(loan)
    assert rows[0].interest_paid_on == date(2026, 6, 25) and rows[1].interest_paid_on == date(
        2026, 6, 25
    )
    loan.refresh_from_db()
    assert loan.outstanding_principal == D("9900.00")
    assert (loan.status, loan.days_past_due) == (Loan.Status.ACTIVE, 0)
    entry = AuditEntry.objects.filter(action="loan.repayment", object_id=str(loan.pk)).get()
    assert entry.changes["penalty"] == [None, "3.20"]


@pytest.mark.django_db
def test_the_sweep_is_daily_and_idempotent(loans: LoanWorld, loan: Loan) -> None:
    with on(date(2026, 3, 20)):
        assert loans_sweep() == 0  # due today: not late yet
    with on(date(2026, 3, 21)):
        assert loans_sweep() == 1
        assert loans_sweep() == 0
    loan.refresh_from_db()
    assert (loan.status, loan.days_past_due) == (Loan.Status.OVERDUE, 1)
    assert AuditEntry.objects.filter(action="loan.standing", object_id=str(loan.pk)).count() == 1
    with on(date(2026, 3, 30)):
        assert loans_sweep() == 1
    loan.refresh_from_db()
    assert loan.days_past_due == 10


@pytest.mark.django_db
def test_paying_off_early_ends_the_interest_that_day(loans: LoanWorld, loan: Loan) -> None:
    with on(date(2026, 3, 20)):
        loan_repay(
            actor=loans.officer, loan_id=loan.pk, on=clock.today(), principal="0", interest="61.67"
        )
    # 20 March to 20 April: 31 days on 10,000 at 3%: 25.83.
    with on(date(2026, 4, 20)):
        loan_repay(
            actor=loans.officer,
            loan_id=loan.pk,
            on=clock.today(),
            principal="10000.00",
            interest="25.83",
        )
    loan.refresh_from_db()
    assert (loan.status, loan.outstanding_principal) == (Loan.Status.REPAID, D("0.00"))
    assert all(r.paid_on is not None for r in _rows(loan))
    with pytest.raises(Refused) as refused, on(date(2026, 4, 21)):
        loan_repay(
            actor=loans.officer, loan_id=loan.pk, on=clock.today(), principal="1", interest="0"
        )
    assert refused.value.code == Code.LOAN_CLOSED


@pytest.mark.django_db
def test_bad_repayments_change_nothing(loans: LoanWorld, loan: Loan) -> None:
    day = DRAWN

    def repay(actor: Any = None, **kw: Any) -> object:
        values = {"on": day, "principal": "10", "interest": "0", "penalty": "0"} | kw
        return loan_repay(actor=actor or loans.officer, loan_id=loan.pk, **values)

    with on(date(2026, 2, 1)):
        with pytest.raises(InvalidInput):
            repay(principal="-1")
        with pytest.raises(InvalidInput):
            repay(principal="十元")
        with pytest.raises(InvalidInput):
            repay(principal="10100")  # more than owed
        with pytest.raises(InvalidInput):
            repay(on=date(2026, 1, 4))  # before the drawdown
        with pytest.raises(InvalidInput):
            repay(on=date(2026, 2, 2))  # in the future
        with pytest.raises(NotFound):
            repay(actor=loans.other_officer)
        with pytest.raises(Forbidden) as forbidden:
            repay(actor=loans.world.user("approver_a"))
        assert forbidden.value.code == Code.ROLE
        undrawn = loans.application(S.BANK_APPROVED)
        with pytest.raises(Refused) as refused:
            loan_repay(actor=loans.officer, loan_id=undrawn.pk, on=day, principal="1", interest="0")
        assert refused.value.code == Code.LOAN_NOT_DRAWN
    assert not Repayment.objects.exists()
    loan.refresh_from_db()
    assert loan.outstanding_principal == D("10000.00")


def _csv(*rows: str, header: bool = True) -> bytes:
    lines = (["贷款编号,还款日期,本金,利息,罚息"] if header else []) + list(rows)
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


@pytest.mark.django_db
def test_the_repayment_file_is_applied_once_and_whole(loans: LoanWorld, loan: Loan) -> None:
    with on(DRAWN):
        other = loans.loan()
    good = _csv(f"{loan.reference},20260320,0,61.67,0", f"{other.reference},2026-03-20,500,61.67,0")
    with on(date(2026, 3, 21)):
        first = repayments_import(actor=loans.officer, data=good, name="还款.csv")
        again = repayments_import(actor=loans.officer, data=good, name="还款.csv")
    assert (first.rows, first.total, first.already_imported) == (2, D("623.34"), False)
    assert again.already_imported and Repayment.objects.count() == 2
    other.refresh_from_db()
    assert other.outstanding_principal == D("9500.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row",
    [
        "DK620902999999,20260320,0,10,0",  # unknown loan
        "{ref},20260231,0,10,0",  # no such date
        "{ref},20260320,0,-10,0",  # negative
        "{ref},20260320,0,10",  # a column short
    ],
)
def test_a_bad_repayment_file_is_refused_whole(loans: LoanWorld, loan: Loan, row: str) -> None:
    data = _csv(f"{loan.reference},20260320,0,61.67,0", row.format(ref=loan.reference))
    with pytest.raises(InvalidInput) as refused, on(date(2026, 3, 21)):
        repayments_import(actor=loans.officer, data=data)
    assert refused.value.code == Code.REPAYMENT_FILE_INVALID
    assert "2" in refused.value.as_dict()["file"][0]
    assert not Repayment.objects.exists()


@pytest.mark.django_db
def test_duplicated_rows_refuse_the_file(loans: LoanWorld, loan: Loan) -> None:
    row = f"{loan.reference},20260320,0,61.67,0"
    with pytest.raises(InvalidInput) as refused, on(date(2026, 3, 21)):
        repayments_import(actor=loans.officer, data=_csv(row, row))
    assert refused.value.code == Code.REPAYMENT_FILE_INVALID
    assert not Repayment.objects.exists()


@pytest.mark.django_db
def test_who_reads_loans(loans: LoanWorld, loan: Loan, api: Callable[..., APIClient]) -> None:
    def ids(username: str, query: str = "") -> list[int]:
        response = api(username).get(f"/api/v1/loans/{query}")
        assert response.status_code == 200, response.content
        return [row["application"] for row in response.json()["results"]]

    for reader in ("xindai", "cadre_v1", "reviewer_t1", "approver_a", "finance_a", "inspector_a"):
        assert ids(reader) == [loan.pk], reader
    for outsider in ("xindai_abc", "cadre_v2", "reviewer_t2", "approver_b", "inspector_b"):
        assert ids(outsider) == [], outsider
    assert ids("xindai", "?overdue=true") == [] and ids("xindai", "?status=active") == [loan.pk]
    detail = api("xindai").get(f"/api/v1/loans/{loan.pk}/").json()
    assert detail["schedule"][0]["interest"] == "61.67" and detail["schedule"][0]["status"]
    assert api("xindai_abc").get(f"/api/v1/loans/{loan.pk}/").status_code == 404
    assert api("xindai").get("/api/v1/loans/?status=lost").status_code == 400


@pytest.mark.django_db
def test_repayments_and_files_through_the_api(
    loans: LoanWorld, loan: Loan, api: Callable[..., APIClient]
) -> None:
    bank = api("xindai")
    with on(date(2026, 3, 20)):
        made = bank.post(
            f"/api/v1/loans/{loan.pk}/repayments/",
            {"date": "2026-03-20", "principal": "0", "interest": "61.67"},
        )
    assert made.status_code == 201 and made.json()["applied_interest"] == "61.67"
    foreign = api("xindai_abc").post(
        f"/api/v1/loans/{loan.pk}/repayments/",
        {"date": "2026-03-20", "principal": "0", "interest": "1"},
    )
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
    upload = SimpleUploadedFile("r.csv", _csv(f"{loan.reference},20260620,0,76.67,0"))
    with on(date(2026, 6, 21)):
        imported = bank.post("/api/v1/loans/repayments/import/", {"file": upload})
    assert imported.status_code == 200, imported.content
    assert imported.json()["rows"] == 1


@pytest.mark.django_db
def test_the_fund_compensates_a_bad_loan_70_30_and_recovers_its_share(
    loans: LoanWorld, loan: Loan, api: Callable[..., APIClient]
) -> None:
    fund = RiskFund.objects.get(county_id=COUNTY)
    start = fund.balance
    with on(date(2026, 6, 10)):
        loans_sweep()
        with pytest.raises(Refused) as early:
            loan_compensate(actor=loans.officer, loan_id=loan.pk, on=clock.today())
        assert early.value.code == Code.COMPENSATION_EARLY
    with on(date(2026, 6, 18)):  # 90 days after the unpaid 20 March
        loans_sweep()
        with pytest.raises(NotFound):
            loan_compensate(actor=loans.other_officer, loan_id=loan.pk, on=clock.today())
        movement = loan_compensate(actor=loans.officer, loan_id=loan.pk, on=clock.today())
    assert (movement.kind, movement.amount) == (FundMovement.Kind.COMPENSATION, D("7000.00"))
    loan.refresh_from_db()
    assert loan.status == Loan.Status.COMPENSATED and loan.compensation_base == D("10000.00")
    fund.refresh_from_db()
    assert fund.balance == start - D("7000.00")
    entry = AuditEntry.objects.get(action="loan.compensation", object_id=str(loan.pk))
    assert entry.changes["bank_bears"] == [None, "3000.00"]
    with on(date(2026, 9, 1)):
        recovered = api("xindai").post(
            f"/api/v1/loans/{loan.pk}/recoveries/", {"amount": "1000.00", "date": "2026-09-01"}
        )
        assert recovered.status_code == 201, recovered.content
        assert recovered.json()["amount"] == "700.00"
        with pytest.raises(Refused) as too_much:
            loan_recover(actor=loans.officer, loan_id=loan.pk, amount="9000.01", on=clock.today())
        assert too_much.value.code == Code.NOTHING_TO_RECOVER
        with pytest.raises(Refused) as closed:
            loan_repay(
                actor=loans.officer, loan_id=loan.pk, on=clock.today(), principal="1", interest="0"
            )
        assert closed.value.code == Code.LOAN_CLOSED
    fund.refresh_from_db()
    assert fund.balance == start - D("6300.00")
    assert loans_visible_to(loans.officer).get(pk=loan.pk).recovered == D("1000.00")


@pytest.mark.django_db
def test_the_bank_writes_off_a_compensated_loan_and_may_still_recover(
    loans: LoanWorld, loan: Loan, api: Callable[..., APIClient]
) -> None:
    with on(date(2026, 5, 1)), pytest.raises(Refused) as active:
        loan_write_off(actor=loans.officer, loan_id=loan.pk, on=clock.today(), reason="无力偿还")
    assert active.value.code == Code.WRONG_STATE
    with on(date(2026, 6, 18)):
        loans_sweep()
        loan_compensate(actor=loans.officer, loan_id=loan.pk, on=clock.today())
        with pytest.raises(InvalidInput) as blank:
            loan_write_off(actor=loans.officer, loan_id=loan.pk, on=clock.today(), reason=" ")
        assert set(blank.value.errors) == {"reason"}
        done = api("xindai").post(
            f"/api/v1/loans/{loan.pk}/write-off/",
            {"date": "2026-06-18", "reason": "借款人外出务工失联，经催收无果"},
        )
        assert done.status_code == 200 and done.json()["status"] == "written_off"
        again = api("xindai").post(
            f"/api/v1/loans/{loan.pk}/write-off/", {"date": "2026-06-18", "reason": "再次"}
        )
        assert again.status_code == 409 and again.json()["code"] == "wrong_state"
    with on(date(2026, 9, 1)):
        back = loan_recover(actor=loans.officer, loan_id=loan.pk, amount="500", on=clock.today())
    assert back.amount == D("350.00")
    entry = AuditEntry.objects.get(action="loan.write_off", object_id=str(loan.pk))
    assert entry.reason == "借款人外出务工失联，经催收无果"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_concurrent_compensations_never_take_the_fund_below_zero(world: World) -> None:
    # 10,000 yuan in the fund: one compensation of 7,000 fits, two do not.
    loans = make_loan_world(world, fund="10000.00")
    with on(DRAWN):
        bad = [loans.loan(), loans.loan()]
    with on(date(2026, 6, 18)):
        loans_sweep()
        outcomes = race(
            *[
                (lambda b=b: loan_compensate(actor=loans.officer, loan_id=b.pk, on=clock.today()))
                for b in bad
            ]
        )
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert outcomes.count("ok") == 1 and [r.code for r in refused] == [Code.FUND_CAPACITY]
    assert RiskFund.objects.get(county_id=COUNTY).balance == D("3000.00")
