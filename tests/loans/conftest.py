"""A loan county on top of the shared world: two banks lending in county A, an officer for
each, the microloan program with the seeds' parameters, and a risk fund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.files.base import ContentFile

from applications.models import Application, Household, Program
from applications.roles import Role
from applications.services import bank_create, role_grant
from approvals.models import Attachment
from approvals.services.attachments import attachment_add
from approvals.services.filing import application_create
from approvals.services.transitions import application_transition
from common import clock
from loans.models import Loan, ReferenceRate
from loans.services.fund import fund_deposit
from loans.services.lending import loan_approve, loan_drawdown
from loans.services.programs import loan_program_create
from tests.factories import (
    COUNTY,
    SIGNED_AGREEMENT_PDF,
    VILLAGE_1,
    World,
    id_number,
    password_of,
    record_appraisal,
)
from tests.factories import S as Status

S = Status
BANK = "gsnx-suzhou"
OTHER_BANK = "abc-suzhou"
# The LPR in force since 2025-05-20 (loans.migrations.0002): the one-year rate 3.00%.
RATE = D("3.0000")


def head_born(year: int, serial: int) -> str:
    """An ID number of a head born on 1 March of ``year`` (unique by ``serial``)."""
    from applications.idnumbers import id_check_digit

    first17 = f"620902{year}0301{serial % 1000:03d}"
    return first17 + id_check_digit(first17)


@dataclass
class LoanWorld:
    world: World
    program: Program
    officer: Any  # the loan officer of BANK in county A
    other_officer: Any  # the loan officer of OTHER_BANK in county A
    _serial: list[int]

    def household(self, *, born: int = 1980, **kw: Any) -> Household:
        self._serial[0] += 1
        return self.world.household(
            kw.pop("area_code", VILLAGE_1), head_id_number=head_born(born, self._serial[0]), **kw
        )

    def ask(self, **loan: Any) -> dict[str, Any]:
        return {
            "amount": "10000.00",
            "months": 36,
            "purpose_category": "livestock",
            "purpose": "买两头牛",
            "repayment_method": "interest_only",
            "bank": BANK,
        } | loan

    def application(
        self, status: str = S.DRAFT, *, household: Household | None = None, **loan: Any
    ) -> Application:
        household = household or self.household()
        cadre = self.world.actor(Role.VILLAGE_CADRE, household.area_code)
        app = application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=self.program.pk,
            loan=self.ask(**loan),
        )
        record_appraisal(actor=cadre, application_id=app.pk)
        bank_path: dict[str, list[str]] = {
            S.BANK_APPROVED: ["bank_approve"],
            S.DISBURSED: ["bank_approve", "disburse"],
            S.DECLINED: ["bank_decline"],
        }
        head = S.APPROVED if status in bank_path else status
        app = self.world.walk(app, head)
        for step in bank_path.get(status, []):
            if step == "bank_approve":
                self.approve(app)
            elif step == "bank_decline":
                application_transition(
                    actor=self.officer, application_id=app.pk, name=step, reason="征信不良"
                )
            else:
                self.contract(app)
                self.draw(app)
        app.refresh_from_db()
        assert app.status == status
        return app

    def approve(self, app: Application, **terms: Any) -> Application:
        values = {"approved_amount": str(app.amount), "annual_rate": str(RATE), "months": 36}
        return loan_approve(
            actor=terms.pop("actor", self.officer),
            application_id=app.pk,
            terms=values | terms,
        )

    def contract(self, app: Application, actor: Any = None) -> Attachment:
        return attachment_add(
            actor=actor or self.officer,
            application_id=app.pk,
            kind=Attachment.Kind.LOAN_CONTRACT,
            file=ContentFile(SIGNED_AGREEMENT_PDF, name="借款合同.pdf"),
        )

    def draw(
        self, app: Application, *, on: date | None = None, amount: Any = None, actor: Any = None
    ) -> Loan:
        return loan_drawdown(
            actor=actor or self.officer,
            application_id=app.pk,
            on=on or clock.today(),
            amount=amount if amount is not None else str(app.amount),
        )

    def loan(self, **loan: Any) -> Loan:
        return self.application(S.DISBURSED, **loan).lent


def published_rates() -> None:
    """The rates the migration seeds, put back when a transactional test's flush took
    them."""
    if not ReferenceRate.objects.exists():
        seed = import_module("loans.migrations.0002_published_rates").seed
        seed(django_apps, None)


def make_loan_world(world: World, *, fund: str = "5000000.00") -> LoanWorld:
    published_rates()
    bank_create(actor=None, code=BANK, name="甘肃农信肃州区联社")
    bank_create(actor=None, code=OTHER_BANK, name="农业银行肃州支行")
    officer, _ = role_grant(
        actor=None,
        username="xindai",
        role=Role.BANK_OFFICER,
        area_code=COUNTY,
        bank_code=BANK,
        password=password_of("xindai"),
    )
    other, _ = role_grant(
        actor=None,
        username="xindai_abc",
        role=Role.BANK_OFFICER,
        area_code=COUNTY,
        bank_code=OTHER_BANK,
        password=password_of("xindai_abc"),
    )
    program = loan_program_create(
        actor=world.user("approver_a"),
        code="xiaoe",
        name="扶贫小额信贷",
        county_code=COUNTY,
        budget=D("39130000.00"),
        effective_from=date(2020, 1, 1),
        policy_reference="银监发〔2017〕42号",
        parameters={"rate_rule": "lpr"},
    )
    if D(fund) > 0:
        fund_deposit(
            actor=world.user("finance_a"),
            county_code=COUNTY,
            amount=D(fund),
            source="县财政专项扶贫资金",
            document_number="肃财农〔2026〕12号",
            on=clock.today(),
        )
    return LoanWorld(world, program, officer, other, [0])


@pytest.fixture
def loans(world: World) -> LoanWorld:
    return make_loan_world(world)


__all__ = ["BANK", "OTHER_BANK", "RATE", "S", "LoanWorld", "id_number", "make_loan_world"]
