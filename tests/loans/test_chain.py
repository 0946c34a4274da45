"""The loan chain: filing with the loan rules, the head as for subsidies, the bank's credit
decision under the rate cap and the fund's capacity, the contract and the drawdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from rest_framework.test import APIClient

from applications.models import Application
from approvals.services.filing import application_create
from approvals.services.transitions import application_transition
from common import clock
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from loans.models import Instalment, Loan, RiskFund
from tests.factories import COUNTY, World, audit_entries, race, record_appraisal
from tests.loans.conftest import BANK, LoanWorld, S, make_loan_world


def _file(loans: LoanWorld, **loan: Any) -> Application:
    household = loan.pop("household", None) or loans.household()
    cadre = loans.world.user("cadre_v1")
    return application_create(
        actor=cadre, household_id=household.pk, program_id=loans.program.pk, loan=loans.ask(**loan)
    )


@pytest.mark.django_db
def test_a_loan_travels_from_the_village_to_the_drawdown(loans: LoanWorld) -> None:
    app = loans.application(S.APPROVED)
    assert app.loan.amount == D("10000.00") and app.loan.bank.code == BANK

    loans.approve(app, approved_amount="8000.00", annual_rate="3.0", months=24)
    app.refresh_from_db()
    assert app.status == S.BANK_APPROVED
    assert (app.loan.approved_amount, app.loan.annual_rate, app.loan.approved_months) == (
        D("8000.00"),
        D("3.0000"),
        24,
    )
    loans.contract(app)
    loan = loans.draw(app, amount="8000.00")

    app.refresh_from_db()
    assert app.status == S.DISBURSED and app.disbursed_by == loans.officer
    assert loan.status == Loan.Status.ACTIVE and loan.outstanding_principal == D("8000.00")
    assert loan.reference == f"DK620902{app.pk:08d}"
    rows = list(Instalment.objects.filter(loan=loan))
    assert sum(r.principal for r in rows) == D("8000.00") and rows[-1].principal == D("8000.00")
    assert rows[-1].due_date == loan.maturity_date
    entry = audit_entries(app, "application.disburse")[0]
    assert entry.changes["principal"] == [None, "8000.00"]
    assert entry.changes["loan"] == [None, loan.reference]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("loan", "field", "code"),
    [
        ({"amount": "50000.01"}, "amount", Code.LOAN_OVER_CAP),
        ({"months": 37}, "months", Code.LOAN_TERM_OVER_CAP),
        ({"purpose_category": "equity_dividend"}, "purpose_category", Code.PURPOSE_FORBIDDEN),
        ({"purpose_category": "housing"}, "purpose_category", Code.PURPOSE_FORBIDDEN),
        ({"amount": "-5"}, "amount", Code.INVALID),
        ({"amount": "一万"}, "amount", Code.INVALID),
        ({"repayment_method": "balloon"}, "repayment_method", Code.INVALID),
        ({"bank": "nowhere"}, "bank", Code.INVALID),
        ({"purpose": "  "}, "purpose", Code.INVALID),
        ({"purpose": "养" * 201}, "purpose", Code.INVALID),  # refused, never cut short
    ],
)
def test_a_loan_outside_the_rules_is_refused_and_nothing_filed(
    loans: LoanWorld, loan: dict[str, Any], field: str, code: Code
) -> None:
    before = Application.objects.count()
    with pytest.raises(InvalidInput) as refused:
        _file(loans, **loan)
    assert refused.value.code == code
    assert field in refused.value.as_dict()
    assert Application.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("born", "ok"), [(1961, True), (1960, False), (2008, True), (2009, False)])
def test_the_borrower_is_18_to_65_on_the_application_date(
    loans: LoanWorld, born: int, ok: bool
) -> None:
    # The heads are born on 1 March; on 5 December 2026 those of 1961 are 65, of 2008 18.
    household = loans.household(born=born)
    with clock.frozen_at(datetime(2026, 12, 5, 10, tzinfo=UTC)):
        if ok:
            assert _file(loans, household=household).status == S.DRAFT
        else:
            with pytest.raises(InvalidInput) as refused:
                _file(loans, household=household)
            assert refused.value.code == Code.BORROWER_AGE


@pytest.mark.django_db
def test_one_open_loan_per_household_and_program(loans: LoanWorld) -> None:
    loan = loans.loan()
    with pytest.raises(InvalidInput) as refused:
        _file(loans, household=loan.household)
    assert refused.value.code == Code.ACTIVE_LOAN


@pytest.mark.django_db
def test_the_bank_steps_are_the_desk_s_and_the_bank_officer_s(loans: LoanWorld) -> None:
    app = loans.application(S.APPROVED)
    # The generic step carries no terms: refused, pointing to the desk.
    with pytest.raises(Refused) as refused:
        application_transition(actor=loans.officer, application_id=app.pk, name="bank_approve")
    assert refused.value.code == Code.LOAN_DESK
    # The county's approver is not the bank.
    with pytest.raises(Forbidden) as forbidden:
        application_transition(
            actor=loans.world.user("approver_a"),
            application_id=app.pk,
            name="bank_decline",
            reason="不符合",
        )
    assert forbidden.value.code == Code.ROLE
    # Another bank's officer does not see the application at all.
    with pytest.raises(NotFound):
        loans.approve(app, actor=loans.other_officer)
    app.refresh_from_db()
    assert app.status == S.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "code"),
    [
        ({"approved_amount": "10000.01"}, Code.LOAN_OVER_CAP),
        ({"annual_rate": "3.5001"}, Code.RATE_OVER_CAP),
        ({"months": 37}, Code.LOAN_TERM_OVER_CAP),
    ],
)
def test_the_bank_grants_within_the_rules(
    loans: LoanWorld, terms: dict[str, Any], code: Code
) -> None:
    app = loans.application(S.APPROVED)
    with pytest.raises(Refused) as refused:
        loans.approve(app, **terms)
    assert refused.value.code == code
    app.refresh_from_db()
    assert app.status == S.APPROVED and app.loan.approved_amount is None
    assert audit_entries(app, "application.bank_approve", "refused")


@pytest.mark.django_db
def test_the_rate_cap_is_the_reference_of_the_term_plus_the_spread(loans: LoanWorld) -> None:
    # Over 12 months under the LPR rule: the five-year LPR (3.50% since 2025-05-20).
    app = loans.application(S.APPROVED)
    loans.approve(app, annual_rate="3.5", months=36)
    app.refresh_from_db()
    assert app.loan.reference_rate == D("3.5000")
    short = loans.application(S.APPROVED)
    with pytest.raises(Refused) as refused:
        loans.approve(short, annual_rate="3.5", months=12)
    assert refused.value.code == Code.RATE_OVER_CAP


@pytest.mark.django_db
def test_the_fund_bounds_what_banks_lend(world: World) -> None:
    # 2,000 yuan in the fund at 10×: room for two loans of 10,000.
    loans = make_loan_world(world, fund="2000.00")
    apps = [loans.application(S.APPROVED) for _ in range(3)]
    loans.approve(apps[0])
    loans.approve(apps[1])
    with pytest.raises(Refused) as refused:
        loans.approve(apps[2])
    assert refused.value.code == Code.FUND_CAPACITY
    assert "0.00" in refused.value.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_concurrent_approvals_never_exceed_the_fund(world: World) -> None:
    loans = make_loan_world(world, fund="3000.00")  # room for exactly three
    apps = [loans.application(S.APPROVED) for _ in range(6)]
    results = race(*[(lambda a=a: loans.approve(a)) for a in apps])
    done = [r for r in results if r == "ok"]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(done) == 3 and len(refused) == 3
    assert {r.code for r in refused} == {Code.FUND_CAPACITY}
    assert RiskFund.objects.get(county_id=COUNTY).balance == D("3000.00")


@pytest.mark.django_db
def test_the_drawdown_waits_for_the_contract_and_keeps_to_the_grant(loans: LoanWorld) -> None:
    app = loans.application(S.BANK_APPROVED)
    with pytest.raises(Refused) as refused:
        loans.draw(app)
    assert refused.value.code == Code.LOAN_CONTRACT_MISSING
    loans.contract(app)
    with pytest.raises(Refused) as refused:
        loans.draw(app, amount="10000.01")
    assert refused.value.code == Code.DRAWDOWN_OVER_APPROVED
    with pytest.raises(Refused) as refused:
        loans.draw(app, on=clock.today() - timedelta(days=1))
    assert refused.value.code == Code.DRAWDOWN_BEFORE_APPROVAL
    with pytest.raises(InvalidInput):
        loans.draw(app, on=clock.today() + timedelta(days=1))
    assert not Loan.objects.filter(pk=app.pk).exists()
    assert loans.draw(app).principal == D("10000.00")


@pytest.mark.django_db
def test_the_bank_declines_with_a_reason(loans: LoanWorld) -> None:
    app = loans.application(S.APPROVED)
    application_transition(
        actor=loans.officer, application_id=app.pk, name="bank_decline", reason="征信不良"
    )
    app.refresh_from_db()
    assert app.status == S.DECLINED and app.last_reason == "征信不良"


@pytest.mark.django_db
def test_the_chain_through_the_api(loans: LoanWorld, api: Callable[..., APIClient]) -> None:
    household = loans.household()
    cadre = api("cadre_v1")
    made = cadre.post(
        "/api/v1/applications/",
        {"household": household.pk, "program": loans.program.pk, "loan": loans.ask()},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["loan"]["bank"] == BANK and body["amount"] == "10000.00"
    bad = cadre.post(
        "/api/v1/applications/",
        {
            "household": loans.household().pk,
            "program": loans.program.pk,
            "loan": loans.ask(purpose_category="relending"),
        },
        format="json",
    )
    assert bad.status_code == 400 and "转贷" in bad.json()["purpose_category"][0]
    app = Application.objects.get(pk=body["id"])
    record_appraisal(actor=loans.world.user("cadre_v1"), application_id=app.pk)
    loans.world.walk(app, S.APPROVED)
    bank = api("xindai")
    listed = bank.get("/api/v1/applications/").json()["results"]
    assert [a["id"] for a in listed] == [app.pk]
    assert api("xindai_abc").get("/api/v1/applications/").json()["results"] == []
    url = f"/api/v1/applications/{app.pk}/transitions/bank_approve/"
    over = bank.post(url, {"approved_amount": "9000", "annual_rate": "4.0", "months": 36})
    assert over.status_code == 409 and over.json()["code"] == Code.RATE_OVER_CAP
    done = bank.post(url, {"approved_amount": "9000", "annual_rate": "3.5", "months": 36})
    assert done.status_code == 200 and done.json()["status"] == S.BANK_APPROVED
    assert done.json()["loan"]["approved_amount"] == "9000.00"


@pytest.mark.parametrize("status", [S.DISBURSED, S.DECLINED])
def test_the_loan_process_written_directly_is_viewflows(
    loans: LoanWorld, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    """The bank's nodes too: the process ``workflows.sync`` writes itself along a plain path
    is the one viewflow's activations write, task by task."""
    from tests.factories import direct_writes, process_shape
    from workflows import sync

    written = direct_writes(monkeypatch)
    shapes = []
    for direct in (False, True):
        monkeypatch.setattr(sync, "DIRECT", direct)
        shapes.append(process_shape(loans.application(status)))
        assert all(written) and bool(written) == direct
    assert shapes[1] == shapes[0]
    assert shapes[0][0] == "DONE"
