"""The interest subsidy (贴息): claims made by the settlement (on time, late, not or partly
paid, over the principal cap, at the lower rate, shared), settling twice, the second
official's approval, and the payment to households through a payment round or to the bank."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from applications import idnumbers
from audit.models import AuditEntry
from audit.verify import ledger_verify, replays
from common import clock
from common.errors import Code, Forbidden, InvalidInput, Refused
from loans.models import Loan, LoanParameters, ReferenceRate, SubsidyClaim
from loans.services.servicing import loan_repay
from loans.services.subsidies import (
    SettleOutcome,
    claim_decision,
    subsidy_bank_transfer,
    subsidy_claim_approve,
    subsidy_claims_approve,
    subsidy_for,
    subsidy_settle,
)
from payments.models import PaymentLine
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create
from tests.factories import COUNTY, World, all_paid, declare_kin, race, return_file
from tests.loans.conftest import BANK, OTHER_BANK, LoanWorld, S, make_loan_world

TZ = ZoneInfo("Asia/Shanghai")
DRAWN = date(2026, 1, 5)
MARCH = date(2026, 3, 20)  # the first quarterly settlement day after the drawdown
FIRST = D("61.67")  # the first period's interest: 10,000 at 3% for 74 days (act/360)
C = SubsidyClaim.Status


@contextmanager
def on(day: date) -> Iterator[None]:
    with clock.frozen_at(datetime(day.year, day.month, day.day, 10, tzinfo=TZ)):
        yield


def params(loans: LoanWorld, **values: Any) -> None:
    LoanParameters.objects.filter(version__program=loans.program).update(**values)


def drawn(loans: LoanWorld, **loan: Any) -> Loan:
    with on(DRAWN):
        return loans.loan(**loan)


def pay_interest(loans: LoanWorld, loan: Loan, day: date, amount: D = FIRST) -> None:
    with on(day):
        loan_repay(
            actor=loans.officer, loan_id=loan.pk, on=day, principal="0", interest=str(amount)
        )


def settle(
    world: World, day: date = MARCH, *, today: date | None = None, who: str = "finance_a"
) -> SettleOutcome:
    with on(today or date(day.year, day.month, day.day + 1)):
        return subsidy_settle(actor=world.user(who), county_code=COUNTY, period_end=day)


def claim_of(loan: Loan) -> SubsidyClaim:
    return SubsidyClaim.objects.get(loan=loan)


# --- the arithmetic -------------------------------------------------------------------------


def test_the_subsidy_is_on_the_capped_principal_at_the_lower_rate_times_the_share() -> None:
    common: dict[str, Any] = {"days": 74, "interest": D("308.33"), "contract_rate": D("3.0")}
    # Under the cap, at the contract rate, in full: the interest itself.
    assert subsidy_for(
        balance=D("50000"), cap=D("50000"), reference_rate=D("3.5"), share=D(100), **common
    ) == (D("50000"), D("3.0"), D("308.33"))
    # Over the cap: 30,000 × 3% × 74/360 = 185.00.
    assert subsidy_for(
        balance=D("50000"), cap=D("30000"), reference_rate=D("3.5"), share=D(100), **common
    )[2] == D("185.00")
    # The reference rate is lower: 50,000 × 2.5% × 74/360 = 256.94; half of it 128.47.
    assert subsidy_for(
        balance=D("50000"), cap=D("50000"), reference_rate=D("2.5"), share=D(50), **common
    ) == (D("50000"), D("2.5"), D("128.47"))
    # Never more than the period's interest (a period ended early by a payoff).
    assert subsidy_for(
        balance=D("50000"),
        cap=D("50000"),
        reference_rate=D("3.5"),
        share=D(100),
        days=74,
        interest=D("10.00"),
        contract_rate=D("3.0"),
    )[2] == D("10.00")


@pytest.mark.parametrize(
    ("paid", "paid_on", "grace", "today", "decision"),
    [
        (FIRST, MARCH, 0, date(2026, 3, 21), ""),
        (FIRST, date(2026, 3, 25), 0, date(2026, 3, 26), "overdue"),
        (FIRST, date(2026, 3, 25), 5, date(2026, 3, 26), ""),
        (FIRST, date(2026, 3, 26), 5, date(2026, 3, 27), "overdue"),
        (D("30.00"), None, 0, date(2026, 3, 21), "not_paid"),
        (D("0.00"), None, 0, date(2026, 3, 21), "not_paid"),
        (D("0.00"), None, 5, date(2026, 3, 25), None),  # the household may still pay
        (D("0.00"), None, 0, MARCH, None),
    ],
)
def test_only_interest_paid_in_full_by_its_due_date_and_grace_earns_it(
    paid: D, paid_on: date | None, grace: int, today: date, decision: str | None
) -> None:
    assert (
        claim_decision(
            interest=FIRST,
            interest_paid=paid,
            interest_paid_on=paid_on,
            due_date=MARCH,
            grace_days=grace,
            today=today,
        )
        == decision
    )


# --- settling ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_interest_paid_on_time_is_subsidised_in_full(loans: LoanWorld, world: World) -> None:
    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    outcome = settle(world)
    assert (outcome.claims, outcome.eligible, outcome.total) == (1, 1, FIRST)
    claim = claim_of(loan)
    assert (claim.status, claim.amount, claim.reason) == (C.PENDING, FIRST, "")
    assert (claim.base, claim.rate, claim.days, claim.share) == (
        D("10000.00"),
        D("3.0000"),
        74,
        D("100.00"),
    )
    assert claim.payee == "household" and claim.bank.code == BANK
    entry = AuditEntry.objects.get(action="interest_subsidy.settle")
    assert entry.changes["total"] == [None, "61.67"]
    assert entry.changes["claims_sha256"] == [None, outcome.digest]


@pytest.mark.django_db
def test_late_unpaid_and_partly_paid_interest_earns_nothing_with_its_reason(
    loans: LoanWorld, world: World
) -> None:
    late, unpaid, partly = drawn(loans), drawn(loans), drawn(loans)
    pay_interest(loans, late, date(2026, 3, 23))
    pay_interest(loans, partly, MARCH, D("30.00"))
    outcome = settle(world, today=date(2026, 3, 24))
    assert (outcome.claims, outcome.eligible, outcome.total) == (3, 0, D("0.00"))
    assert outcome.ineligible == {"overdue": 1, "not_paid": 2}
    assert [
        (claim_of(x).reason, claim_of(x).amount, claim_of(x).status) for x in (late, unpaid)
    ] == [
        ("overdue", D("0.00"), C.INELIGIBLE),
        ("not_paid", D("0.00"), C.INELIGIBLE),
    ]
    assert claim_of(partly).interest_paid == D("30.00")
    assert claim_of(partly).reason == "not_paid"
    # Penalty interest is never subsidised: the claim is on the period's interest only.
    assert claim_of(late).interest == FIRST


@pytest.mark.django_db
def test_the_principal_cap_the_lower_reference_rate_and_the_share(
    loans: LoanWorld, world: World
) -> None:
    params(loans, subsidy_principal_cap=D("30000.00"), subsidy_share=D("50.00"))
    big = drawn(loans, amount="40000.00")
    # The five-year LPR (36-month loans are priced on it) in force when the period began,
    # published after the bank priced the loan: 2.5%, under the contract's 3%.
    ReferenceRate.objects.create(
        kind="lpr_5y", effective_from=DRAWN, rate=D("2.5000"), source="test"
    )
    interest = big.instalments.get(seq=1).interest  # 40,000 × 3% × 74/360 = 246.67
    assert interest == D("246.67")
    pay_interest(loans, big, MARCH, interest)
    settle(world)
    claim = claim_of(big)
    # 30,000 × 2.5% × 74/360 = 154.1667, half of it 77.0833: 77.08 (rounded once, at the end).
    assert (claim.base, claim.rate, claim.amount) == (D("30000.00"), D("2.5000"), D("77.08"))


@pytest.mark.django_db
def test_a_period_ended_by_a_payoff_is_subsidised_for_the_days_it_ran(
    loans: LoanWorld, world: World
) -> None:
    params(loans, subsidy_principal_cap=D("5000.00"))
    loan = drawn(loans)
    # Paid off 30 days after the drawdown: 10,000 × 3% × 30/360 = 25.00 of interest.
    with on(date(2026, 2, 4)):
        loan_repay(
            actor=loans.officer,
            loan_id=loan.pk,
            on=clock.today(),
            principal="10000.00",
            interest="25.00",
        )
    first = loan.instalments.get(seq=1)
    assert (first.days, first.interest) == (30, D("25.00"))
    settle(world)
    # The subsidy is on the capped 5,000 for those 30 days: 12.50, not the 25.00 charged.
    assert claim_of(loan).amount == D("12.50")


@pytest.mark.django_db
def test_settling_twice_changes_nothing_and_the_undecided_wait(
    loans: LoanWorld, world: World
) -> None:
    params(loans, grace_days=10)
    paid, waiting = drawn(loans), drawn(loans)
    pay_interest(loans, paid, MARCH)
    first = settle(world, today=date(2026, 3, 22))
    assert (first.claims, first.waiting) == (1, 1)
    again = settle(world, today=date(2026, 3, 22))
    assert (again.claims, again.total, again.waiting) == (0, D("0.00"), 1)
    assert AuditEntry.objects.filter(action="interest_subsidy.settle").count() == 1
    # Paid within its grace days: the next run claims it, in full.
    pay_interest(loans, waiting, date(2026, 3, 28))
    later = settle(world, today=date(2026, 4, 1))
    assert (later.claims, later.eligible, later.waiting) == (1, 1, 0)
    assert claim_of(waiting).amount == FIRST
    assert SubsidyClaim.objects.count() == 2


@pytest.mark.django_db
def test_a_settlement_day_must_be_one_and_have_come(loans: LoanWorld, world: World) -> None:
    drawn(loans)
    with pytest.raises(InvalidInput) as bad:
        settle(world, date(2026, 3, 21), today=date(2026, 3, 22))
    assert bad.value.code == Code.SETTLEMENT_DATE
    with pytest.raises(InvalidInput) as early:
        settle(world, date(2026, 6, 20), today=date(2026, 6, 19))
    assert early.value.code == Code.SETTLEMENT_DATE
    assert not SubsidyClaim.objects.exists()


@pytest.mark.django_db
def test_yearly_settlement_takes_the_years_periods_on_20_december(
    loans: LoanWorld, world: World
) -> None:
    params(loans, settlement="yearly")
    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    assert settle(world).claims == 0  # not a yearly settlement day
    december = date(2026, 12, 20)
    # The other periods paid on their days too (June, September, December).
    for inst in loan.instalments.filter(seq__in=(2, 3, 4)).order_by("seq"):
        pay_interest(loans, loan, inst.due_date, inst.interest)
    outcome = settle(world, december)
    assert (outcome.claims, outcome.eligible) == (4, 4)
    assert outcome.total == sum(i.interest for i in loan.instalments.filter(seq__lte=4))


@pytest.mark.django_db
def test_only_county_officials_settle(loans: LoanWorld, world: World) -> None:
    drawn(loans)
    for who in (loans.officer, world.user("cadre_v1"), world.user("inspector_a")):
        with on(date(2026, 3, 21)), pytest.raises(Forbidden):
            subsidy_settle(actor=who, county_code=COUNTY, period_end=MARCH)


# --- approving and paying ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_settler_may_not_approve_and_a_claim_is_approved_once(
    loans: LoanWorld, world: World
) -> None:
    loan, late = drawn(loans), drawn(loans)
    pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21))
    claim = claim_of(loan)
    with pytest.raises(Refused) as same:
        subsidy_claim_approve(actor=world.user("finance_a"), claim_id=claim.pk)
    assert same.value.code == Code.SEPARATION_OF_DUTIES
    with pytest.raises(Forbidden):
        subsidy_claim_approve(actor=loans.officer, claim_id=claim.pk)
    approved = subsidy_claim_approve(actor=world.user("approver_a"), claim_id=claim.pk)
    assert approved.status == C.APPROVED and approved.approved_by == world.user("approver_a")
    with pytest.raises(Refused) as twice:
        subsidy_claim_approve(actor=world.user("approver_a"), claim_id=claim.pk)
    assert twice.value.code == Code.WRONG_STATE
    with pytest.raises(Refused) as nothing:
        subsidy_claim_approve(actor=world.user("approver_a"), claim_id=claim_of(late).pk)
    assert nothing.value.code == Code.WRONG_STATE
    assert AuditEntry.objects.filter(action="subsidy_claim.approve").count() == 1


@pytest.mark.django_db
def test_household_claims_are_paid_through_the_loan_programs_round(
    loans: LoanWorld, world: World
) -> None:
    loans_ = [drawn(loans) for _ in range(2)]
    for loan in loans_:
        pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21))
    finance, approver = world.user("finance_a"), world.user("approver_a")
    with on(date(2026, 3, 21)):
        # Nothing approved yet: a round of the loan program has nothing to pay (the loan
        # applications themselves are never paid by a round).
        with pytest.raises(Refused) as empty:
            payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        assert empty.value.code == Code.NOTHING_PAYABLE
        outcome = subsidy_claims_approve(actor=approver, county_code=COUNTY, period_end=MARCH)
        assert (outcome.approved, outcome.total) == (2, FIRST * 2)
        round_ = payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        assert (round_.count, round_.total) == (2, FIRST * 2)
        # A second round may not take them while the first holds them.
        with pytest.raises(Refused) as held:
            payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        assert held.value.code == Code.NOTHING_PAYABLE
        payment_round_approve(actor=approver, round_id=round_.pk)
        bank_file_export(actor=finance, round_id=round_.pk)
        round_.refresh_from_db()
        bank_return_import(
            actor=finance, round_id=round_.pk, data=return_file(round_, all_paid(round_))
        )
    lines = list(PaymentLine.objects.filter(round=round_).order_by("pk"))
    assert {line.claim_id for line in lines} == {claim_of(x).pk for x in loans_}
    for loan in loans_:
        claim = claim_of(loan)
        assert claim.status == C.PAID and claim.paid_reference.startswith(round_.reference)
        # The loan application is untouched: it stays disbursed (the drawdown).
        assert loan.application.status == S.DISBURSED
    assert AuditEntry.objects.filter(action="subsidy_claim.pay").count() == 2
    report = ledger_verify(replayers=replays())
    assert report.ok, report.problems


@pytest.mark.django_db
def test_a_finance_officer_recused_from_the_household_does_not_put_its_claim_in_a_round(
    loans: LoanWorld, world: World
) -> None:
    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21), who="approver_a")
    finance = world.user("finance_a")
    head = loan.household.members.get(relation="head")
    with on(date(2026, 3, 21)):
        subsidy_claims_approve(actor=finance, county_code=COUNTY, period_end=MARCH)
        declare_kin(
            official=finance,
            relation="sibling",
            id_number=idnumbers.decrypt(head.id_cipher),
            name=head.name,
        )
        with pytest.raises(Refused) as recused:
            payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
    assert recused.value.code == Code.NOTHING_PAYABLE
    assert "recused" in recused.value.message or "回避" in recused.value.message
    assert not PaymentLine.objects.filter(claim_id=claim_of(loan).pk).exists()


@pytest.mark.django_db
def test_a_claim_the_bank_returned_waits_until_the_name_is_corrected(
    loans: LoanWorld, world: World
) -> None:
    from applications.models import Household

    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21))
    finance, approver = world.user("finance_a"), world.user("approver_a")
    with on(date(2026, 3, 21)):
        subsidy_claims_approve(actor=approver, county_code=COUNTY, period_end=MARCH)
        round_ = payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        payment_round_approve(actor=approver, round_id=round_.pk)
        bank_file_export(actor=finance, round_id=round_.pk)
        round_.refresh_from_db()
        line = round_.lines.get()
        bank_return_import(
            actor=finance,
            round_id=round_.pk,
            data=return_file(round_, {line.reference: ("3002", "户名不符", None)}),
        )
        with pytest.raises(Refused) as waiting:
            payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        assert "户名不符" in waiting.value.message
        # The name on the card corrected (the head's name as the bank holds it).
        Household.objects.filter(pk=loan.household_id).update(
            head_name="何建国", bank_card_holder="何建国"
        )
        again = payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
    assert [ln.claim_id for ln in again.lines.all()] == [claim_of(loan).pk]


@pytest.mark.django_db
def test_a_paid_claim_changed_in_the_database_is_caught(loans: LoanWorld, world: World) -> None:
    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21))
    with on(date(2026, 3, 21)):
        subsidy_claims_approve(actor=world.user("approver_a"), county_code=COUNTY, period_end=MARCH)
        round_ = payment_round_create(
            actor=world.user("finance_a"), program_id=loans.program.pk, area_code=COUNTY
        )
        payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)
        bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)
        round_.refresh_from_db()
        bank_return_import(
            actor=world.user("finance_a"),
            round_id=round_.pk,
            data=return_file(round_, all_paid(round_)),
        )
    line = PaymentLine.objects.get(round=round_)
    PaymentLine.objects.filter(pk=line.pk).update(claim_id=(line.claim_id or 0) + 1000)
    report = ledger_verify(replayers=replays())
    assert not report.ok
    assert "line of claim" in report.problems[0].detail


@pytest.mark.django_db
def test_bank_claims_are_paid_by_the_countys_transfer(loans: LoanWorld, world: World) -> None:
    params(loans, payee="bank")
    loan = drawn(loans)
    pay_interest(loans, loan, MARCH)
    settle(world, today=date(2026, 3, 21))
    finance, approver = world.user("finance_a"), world.user("approver_a")

    def transfer(document: str, who: Any = finance, total: D = FIRST, day: Any = None) -> Any:
        return subsidy_bank_transfer(
            actor=who,
            county_code=COUNTY,
            period_end=MARCH,
            bank_code=BANK,
            document_number=document,
            on=day or clock.today(),
            total=total,
        )

    with on(date(2026, 3, 25)):
        subsidy_claims_approve(actor=approver, county_code=COUNTY, period_end=MARCH)
        # Not through a household round.
        with pytest.raises(Refused):
            payment_round_create(actor=finance, program_id=loans.program.pk, area_code=COUNTY)
        with pytest.raises(InvalidInput) as bad:
            transfer(" ")
        assert set(bad.value.errors) == {"document_number"}
        with pytest.raises(Forbidden):
            transfer("肃财付〔2026〕88号", approver)  # the county approver does not pay
        with pytest.raises(InvalidInput) as early:
            transfer("肃财付〔2026〕88号", day=date(2026, 3, 19))
        assert set(early.value.errors) == {"date"}
        # Not the total of the signed list: a claim approved since, or another day's list.
        with pytest.raises(Refused) as other:
            transfer("肃财付〔2026〕88号", total=FIRST + D("10.00"))
        assert other.value.code == Code.TRANSFER_TOTAL
        assert claim_of(loan).status == C.APPROVED
        outcome = transfer("肃财付〔2026〕88号")
        assert (outcome.claims, outcome.total) == (1, FIRST)
        with pytest.raises(Refused) as twice:
            transfer("肃财付〔2026〕88号")
        assert twice.value.code == Code.NOTHING_PAYABLE
    claim = claim_of(loan)
    assert (claim.status, claim.paid_reference) == (C.PAID, "肃财付〔2026〕88号")
    paid = AuditEntry.objects.get(action="subsidy_claim.pay", object_id=str(claim.pk))
    assert paid.changes["paid_amount"] == [None, "61.67"]
    report = ledger_verify(replayers=replays())
    assert report.ok, report.problems


# --- the API ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_settles_lists_and_approves(loans: LoanWorld, world: World) -> None:
    loan = drawn(loans)
    with on(DRAWN):
        app = loans.application(S.APPROVED, bank=OTHER_BANK)
        loans.approve(app, actor=loans.other_officer)
        loans.contract(app, actor=loans.other_officer)
        other = loans.draw(app, actor=loans.other_officer)
    pay_interest(loans, loan, MARCH)
    client = APIClient()
    client.force_authenticate(world.user("finance_a"))
    with on(date(2026, 3, 21)):
        bad = client.post(
            "/api/v1/interest-subsidies/settle/", {"county": COUNTY, "period_end": "2026-03-19"}
        )
        assert bad.status_code == 400 and "period_end" in bad.json()
        done = client.post(
            "/api/v1/interest-subsidies/settle/", {"county": COUNTY, "period_end": "2026-03-20"}
        )
        assert done.status_code == 200, done.json()
        assert done.json()["claims"] == 2 and done.json()["total"] == "61.67"
        listed = client.get("/api/v1/interest-subsidies/?period_end=2026-03-20&bank=" + BANK)
        assert [r["loan"] for r in listed.json()["results"]] == [loan.pk]
        assert client.get("/api/v1/interest-subsidies/?status=nope").status_code == 400
        assert client.get("/api/v1/interest-subsidies/?period_end=x").status_code == 400
        # The other bank's officer sees only their bank's claim.
        bank = APIClient()
        bank.force_authenticate(loans.other_officer)
        seen = bank.get("/api/v1/interest-subsidies/").json()["results"]
        assert [r["loan"] for r in seen] == [other.pk]
        claim = claim_of(loan)
        same = client.post(f"/api/v1/interest-subsidies/{claim.pk}/approve/")
        assert same.status_code == 409 and same.json()["code"] == "separation_of_duties"
        approver = APIClient()
        approver.force_authenticate(world.user("approver_a"))
        ok = approver.post(f"/api/v1/interest-subsidies/{claim.pk}/approve/")
        assert ok.status_code == 200 and ok.json()["status"] == "approved"
        assert bank.post(f"/api/v1/interest-subsidies/{claim.pk}/approve/").status_code == 404


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_two_settlements_at_once_make_each_claim_once(world: World) -> None:
    loans = make_loan_world(world)
    made = [drawn(loans) for _ in range(3)]
    for loan in made:
        pay_interest(loans, loan, MARCH)
    with on(date(2026, 3, 21)):
        outcomes = race(
            lambda: subsidy_settle(
                actor=world.user("finance_a"), county_code=COUNTY, period_end=MARCH
            ),
            lambda: subsidy_settle(
                actor=world.user("approver_a"), county_code=COUNTY, period_end=MARCH
            ),
        )
    assert outcomes == ["ok", "ok"]
    assert SubsidyClaim.objects.count() == 3
    assert AuditEntry.objects.filter(action="interest_subsidy.settle").count() == 1
