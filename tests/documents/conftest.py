"""A county with two townships, a village in each, the officials of the chain, a program
and a household whose head has a rare-character name; applications driven through the
real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from applications.idnumbers import id_check_digit
from applications.models import Application, Household, Program
from applications.services import area_create, household_create, program_create, role_grant
from approvals.services.filing import application_create, application_edit
from approvals.services.transitions import application_transition

COUNTY, TOWNSHIP, VILLAGE = "500114000000", "500114101000", "500114101201"
OTHER_TOWNSHIP, OTHER_VILLAGE = "500114102000", "500114102201"


def id_number(seq: int) -> str:
    first17 = f"50011419800101{seq:03d}"
    return first17 + id_check_digit(first17)


@dataclass
class World:
    cadre: Any
    reviewer: Any
    approver: Any
    finance: Any
    outsider: Any
    inspector: Any
    program: Program
    household: Household

    def household_new(self, head_name: str, seq: int, card: str, phone: str) -> Household:
        return household_create(
            actor=self.cadre,
            area_code=VILLAGE,
            head_name=head_name,
            head_id_number=id_number(seq),
            bank_card=card,
            phone=phone,
            household_type=Household.Kind.GENERAL,
            poverty_causes=["capital"],
        )

    def application_posted(self, household: Household, sheep: int = 10) -> Application:
        app = application_create(
            actor=self.cadre,
            household_id=household.pk,
            program_id=self.program.pk,
            items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": sheep}],
        )
        application_edit(
            actor=self.cadre,
            application_id=app.pk,
            appraisal_date=date(2025, 3, 1),
            appraisal_attendees=40,
            appraisal_votes_for=38,
            appraisal_votes_against=2,
        )
        application_transition(actor=self.cadre, application_id=app.pk, name="submit")
        return application_transition(actor=self.cadre, application_id=app.pk, name="start_posting")

    def application_in_review(self, household: Household, sheep: int = 10) -> Application:
        app = self.application_posted(household, sheep)
        application_transition(
            actor=None,
            application_id=app.pk,
            name="close_posting",
            now=timezone.now() + timedelta(days=30),
        )
        return app

    def application_approved(self, household: Household, sheep: int = 10) -> Application:
        app = self.application_in_review(household, sheep)
        application_transition(actor=self.reviewer, application_id=app.pk, name="township_approve")
        return application_transition(
            actor=self.approver, application_id=app.pk, name="county_approve"
        )


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FUPIN_PUBLIC_URL = "https://fupin.example.org"
    # Background jobs run at once, in the test (no worker).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def world(db: None) -> World:
    area_create(code=COUNTY, name="黔江区")
    area_create(code=TOWNSHIP, name="城东街道")
    area_create(code=VILLAGE, name="册山村")
    area_create(code=OTHER_TOWNSHIP, name="舟白街道")
    area_create(code=OTHER_VILLAGE, name="三塘村")
    grant = {
        "cadre": ("village_cadre", VILLAGE),
        "reviewer": ("township_reviewer", TOWNSHIP),
        "approver": ("county_approver", COUNTY),
        "finance": ("finance_officer", COUNTY),
        "outsider": ("village_cadre", OTHER_VILLAGE),
        "inspector": ("inspector", COUNTY),
    }
    users = {
        name: role_grant(actor=None, username=name, role=role, area_code=code)[0]
        for name, (role, code) in grant.items()
    }
    program = program_create(
        actor=None,
        code="industry",
        name="到户产业扶持",
        kind=Program.Kind.SUBSIDY,
        county_code=COUNTY,
        budget=Decimal("1000000.00"),
        effective_from=date(2020, 1, 1),
        policy_reference="黔江府办发〔2015〕123号",
        household_cap=Decimal("5000.00"),
        items=[
            {"code": "pen", "name": "圈舍", "unit": "个", "unit_amount": Decimal("3000.00")},
            {"code": "sheep", "name": "羊", "unit": "只", "unit_amount": Decimal("200.00")},
        ],
    )
    w = World(program=program, household=None, **users)  # type: ignore[arg-type]
    w.household = w.household_new("李䶮", 1, "6222020200112345678", "13812345678")
    return w
