"""Loan programs and their effective-dated parameters (issue 12): the defaults of the seeds'
policy, every figure a parameter, and bad parameters refused by field with nothing written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from applications.models import Program, ProgramVersion
from audit.models import AuditEntry
from common.errors import InvalidInput
from loans.models import LoanParameters
from loans.services.programs import loan_program_create, loan_version_add
from tests.factories import COUNTY, World

pytestmark = pytest.mark.django_db


def _create(world: World, code: str = "xiaoe", **kwargs: Any) -> Program:
    return loan_program_create(
        actor=world.user("approver_a"),
        code=code,
        name="扶贫小额信贷",
        county_code=COUNTY,
        budget=Decimal("39130000.00"),
        effective_from=date(2026, 1, 1),
        policy_reference="银监发〔2017〕42号",
        **kwargs,
    )


def test_a_loan_program_carries_the_policy_defaults(world: World) -> None:
    program = _create(world)

    version = program.versions.get()
    params = LoanParameters.objects.get(version=version)
    assert (version.loan_max_amount, version.loan_max_months, version.posting_days) == (
        Decimal("50000.00"),
        36,
        3,
    )
    assert (params.min_age, params.max_age, params.leverage, params.fund_share) == (
        18,
        65,
        Decimal("10"),
        Decimal("70"),
    )
    assert params.subsidy_share == 100 and params.subsidy_principal_cap == 50000
    assert set(params.forbidden_purposes) == {
        "equity_dividend",
        "relending",
        "housing",
        "wedding",
        "investment",
        "household_goods",
    }
    assert "livestock" in params.allowed_purposes
    assert AuditEntry.objects.filter(action="program.loan_parameters").count() == 1


def test_a_later_version_changes_the_figures_from_its_date(world: World) -> None:
    program = _create(world)

    later = loan_version_add(
        actor=world.user("approver_a"),
        program=program,
        effective_from=date(2027, 1, 1),
        policy_reference="县政府2027年1号文",
        max_amount=Decimal("50000.00"),
        max_months=36,
        parameters={"fund_share": Decimal("80"), "rate_rule": "lpr", "grace_days": 5},
    )

    params = LoanParameters.objects.get(version=later)
    assert params.fund_share == 80 and params.rate_rule == "lpr"
    assert program.versions.count() == 2


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"min_age": 70}, "max_age"),
        ({"repayment_methods": ["balloon"]}, "repayment_methods"),
        ({"repayment_methods": []}, "repayment_methods"),
        ({"allowed_purposes": ["livestock", "housing"]}, "allowed_purposes"),
        ({"forbidden_purposes": ["gambling"]}, "forbidden_purposes"),
        ({"settlement": "at_maturity"}, "settlement"),  # a 36-month term
        ({"fund_share": Decimal("120")}, "fund_share"),
        ({"eligible_statuses": ["rich"]}, "eligible_statuses"),
        ({"day_count": "act_365"}, "day_count"),
    ],
)
def test_bad_parameters_are_refused_by_field_and_nothing_is_written(
    world: World, parameters: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(world, parameters=parameters)

    assert field in refused.value.errors
    assert not Program.objects.filter(code="xiaoe").exists()
    assert not ProgramVersion.objects.filter(program__code="xiaoe").exists()


def test_settlement_at_maturity_for_a_short_term(world: World) -> None:
    program = _create(world, max_months=12, parameters={"settlement": "at_maturity"})

    params = LoanParameters.objects.get(version=program.versions.get())
    assert params.settlement == "at_maturity"
