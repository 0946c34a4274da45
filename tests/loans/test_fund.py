"""The county's risk-compensation fund: deposits by the county approver or finance, with a
source and a document number; the balance under the row's lock (concurrent deposits all
count, on PostgreSQL); movements append-only; the API scoped to the county."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from rest_framework.test import APIClient

from applications.services import role_grant
from audit.models import AuditEntry
from common import clock
from common.errors import Code, Forbidden, InvalidInput
from loans.models import FundMovement, RiskFund
from loans.services.fund import fund_deposit
from tests.factories import COUNTY, World, race

D = Decimal


def _deposit(world: World, amount: str = "5000000.00", who: str = "finance_a", **kw: Any) -> Any:
    return fund_deposit(
        actor=world.user(who),
        county_code=COUNTY,
        amount=D(amount),
        source=kw.get("source", "区财政预算"),
        document_number=kw.get("document_number", "肃财农〔2026〕12号"),
        on=kw.get("on", date(2026, 3, 1)),
    )


@pytest.mark.django_db
def test_deposits_raise_the_balance_and_are_on_the_record(world: World) -> None:
    first = _deposit(world)
    second = _deposit(world, "250000.50", who="approver_a")

    fund = RiskFund.objects.get(county_id=COUNTY)
    assert fund.balance == D("5250000.50")
    assert (first.balance_after, second.balance_after) == (D("5000000.00"), D("5250000.50"))
    assert AuditEntry.objects.filter(action="risk_fund.deposit").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"document_number": " "}, "document_number"),
        ({"source": ""}, "source"),
        ({"source": "财" * 201}, "source"),  # refused, never cut short
        ({"document_number": "号" * 101}, "document_number"),
        ({"on": date(2099, 1, 1)}, "date"),
    ],
)
def test_a_bad_deposit_changes_nothing(world: World, kw: dict[str, Any], field: str) -> None:
    amount = kw.pop("amount", "100.00")
    with pytest.raises(InvalidInput) as refused:
        _deposit(world, amount, **kw)

    assert field in refused.value.errors
    assert not FundMovement.objects.exists()


@pytest.mark.django_db
def test_only_the_county_deposits(world: World) -> None:
    with pytest.raises(Forbidden) as refused:
        _deposit(world, who="inspector_a")

    assert refused.value.code == Code.ROLE
    with pytest.raises(Forbidden):
        _deposit(world, who="finance_b")  # another county's finance


@pytest.mark.django_db
def test_a_movement_is_never_changed(world: World) -> None:
    movement = _deposit(world)

    with pytest.raises(DatabaseError), transaction.atomic():
        FundMovement.objects.filter(pk=movement.pk).update(amount=D("1.00"))


@pytest.mark.django_db
def test_the_fund_through_the_api(world: World, api: Callable[..., APIClient]) -> None:
    url = f"/api/v1/risk-funds/{COUNTY}/"
    empty = api("inspector_a").get(url)
    added = api("finance_a").post(
        url + "deposits/",
        {
            "amount": "5000000.00",
            "source": "区财政预算",
            "document_number": "肃财农〔2026〕12号",
            "date": (clock.today() - timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    no_doc = api("finance_a").post(
        url + "deposits/",
        {"amount": "10.00", "source": "x", "document_number": "", "date": "2026-01-01"},
        format="json",
    )
    after = api("inspector_a").get(url)
    foreign = api("finance_b").get(url)

    assert empty.status_code == 200 and empty.json()["balance"] == "0.00"
    assert added.status_code == 201, added.content
    assert no_doc.status_code == 400
    body = after.json()
    assert body["balance"] == "5000000.00" and body["movements"][0]["kind"] == "deposit"
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_concurrent_deposits_all_count(world: World) -> None:
    other, _granted = role_grant(
        actor=None, username="finance_a2", role="finance_officer", area_code=COUNTY
    )

    def deposit(user: Any) -> Callable[[], object]:
        return lambda: fund_deposit(
            actor=user,
            county_code=COUNTY,
            amount=D("100.00"),
            source="预算",
            document_number="1号",
            on=date(2026, 3, 1),
        )

    outcomes = race(deposit(world.user("finance_a")), deposit(other))

    assert outcomes == ["ok", "ok"]
    assert RiskFund.objects.get(county_id=COUNTY).balance == D("200.00")
    assert sorted(m.balance_after for m in FundMovement.objects.all()) == [D("100.00"), D("200.00")]


@pytest.mark.django_db
def test_the_fund_page_records_a_deposit_and_shows_it(world: World) -> None:
    from django.test import Client

    finance, inspector, cadre = Client(), Client(), Client()
    finance.force_login(world.user("finance_a"))
    inspector.force_login(world.user("inspector_a"))
    cadre.force_login(world.user("cadre_v1"))
    deposit = {
        "amount": "5,000,000.00",
        "source": "区财政预算",
        "document_number": "肃财农〔2026〕12号",
        "date": "2026-03-01",
        "confirmed": "1",
    }

    bad = finance.post("/loans/fund/", {**deposit, "amount": "很多"})
    assert bad.status_code == 400 and not FundMovement.objects.exists()

    done = finance.post("/loans/fund/", deposit)
    page = inspector.get("/loans/fund/").content.decode()

    assert done.status_code == 302
    assert RiskFund.objects.get(county_id=COUNTY).balance == D("5000000.00")
    assert 'id="balance">5000000.00<' in page and "肃财农〔2026〕12号" in page
    assert 'id="deposit"' not in page  # the inspector reads
    assert cadre.get("/loans/fund/").status_code == 404


@pytest.mark.django_db
def test_the_capacity_is_the_leverage_of_the_loan_program_in_force(
    world: World, api: Callable[..., APIClient]
) -> None:
    from loans.services.programs import loan_program_create

    url = f"/api/v1/risk-funds/{COUNTY}/"
    _deposit(world, "5000000.00")
    without = api("inspector_a").get(url).json()
    loan_program_create(
        actor=world.user("approver_a"),
        code="xiaoe",
        name="扶贫小额信贷",
        county_code=COUNTY,
        budget=D("39130000.00"),
        effective_from=clock.today(),
        policy_reference="银监发〔2017〕42号",
        parameters={"leverage": D("8")},
    )

    body = api("inspector_a").get(url).json()

    assert (without["leverage"], without["capacity"]) == (None, None)
    assert (body["leverage"], body["covered"], body["capacity"]) == ("8.00", "0.00", "40000000.00")
