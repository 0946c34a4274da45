"""The one world builder: places, officials with their roles, and the programs of seed 000,
made through the services (so every piece is on the record). The demo county
(``demo.seed``), the tests' world (``tests/factories.py``) and the bench
(``benchmarks/run.py``) describe their own places and people and build them here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model

from applications.models import Area, Program
from applications.services import area_create, program_create, role_grant
from common.actors import Actor
from loans.services.programs import loan_program_create as loans_program_create

SUBSIDY_CODE = "daohu-chanye"
LOAN_CODE = "xiaoe-xindai"
SUBSIDY_NAME = "到户产业扶持"
SUBSIDY_POLICY = "《肃州区精准扶贫到户产业扶持政策实施办法》"
# Seed 000: 5000 yuan per household, a pen 3000 yuan, a sheep 200 yuan.
SUBSIDY_CAP = Decimal("5000.00")
PEN = {"code": "pen", "name": "圈舍", "unit": "座", "unit_amount": Decimal("3000.00")}
SHEEP = {"code": "sheep", "name": "羊", "unit": "只", "unit_amount": Decimal("200.00")}
# The demo's limits per household: one pen, 25 sheep (5000 yuan at most either way).
SUBSIDY_ITEMS: tuple[Mapping[str, Any], ...] = (
    {**PEN, "max_quantity": 1},
    {**SHEEP, "max_quantity": 25},
)
POSTING_DAYS = 7


@dataclass(frozen=True)
class Place:
    """An area: its 12-digit code, its name and its parent's code (None for a county)."""

    code: str
    name: str
    parent: str | None = None


@dataclass(frozen=True)
class Grant:
    """A role held by a user on an area; ``password`` None leaves a new user without one."""

    username: str
    role: str
    area_code: str
    password: str | None = None
    bank: str = ""  # a bank officer's bank (its code)


def places_create(*, actor: Actor, places: Iterable[Place]) -> dict[str, Area]:
    """Create the areas in order (a parent before its children) through ``area_create``;
    idempotent on the code. Returns the areas by code."""
    made: dict[str, Area] = {}
    for place in places:
        parent = None
        if place.parent is not None:
            parent = made.get(place.parent) or Area.objects.get(code=place.parent)
        made[place.code] = area_create(code=place.code, name=place.name, parent=parent, actor=actor)
    return made


def grants_give(
    *, actor: Actor, grants: Iterable[Grant], password_hash: str | None = None
) -> dict[str, Any]:
    """Grant each role through ``role_grant`` (creating the user when needed). A user who
    still has no usable password after that gets ``password_hash`` when one is given: one
    hash for many users, which costs one hashing instead of one per user. Returns the
    users by username."""
    users: dict[str, Any] = {}
    for grant in grants:
        user, _granted = role_grant(
            actor=actor,
            username=grant.username,
            role=grant.role,
            area_code=grant.area_code,
            password=grant.password,
            bank_code=grant.bank,
        )
        if password_hash is not None and not user.has_usable_password():
            user.password = password_hash
            user.save(update_fields=["password"])
        users[grant.username] = user
    return users


def users_get(usernames: Iterable[str]) -> dict[str, Any]:
    """Fresh user objects by username (those that exist)."""
    User = get_user_model()
    return {u.get_username(): u for u in User.objects.filter(username__in=list(usernames))}


def subsidy_program_create(
    *,
    actor: Actor,
    county_code: str,
    budget: Decimal,
    effective_from: date,
    code: str = SUBSIDY_CODE,
    policy_reference: str = SUBSIDY_POLICY,
    items: Sequence[Mapping[str, Any]] = SUBSIDY_ITEMS,
) -> Program:
    """The household industry subsidy of seed 000 (到户产业扶持): 5000 yuan per household,
    a pen 3000 yuan, a sheep 200 yuan, seven days of posting; through ``program_create``."""
    return program_create(
        actor=actor,
        code=code,
        name=SUBSIDY_NAME,
        kind=Program.Kind.SUBSIDY,
        county_code=county_code,
        budget=budget,
        effective_from=effective_from,
        policy_reference=policy_reference,
        household_cap=SUBSIDY_CAP,
        posting_days=POSTING_DAYS,
        items=items,
    )


EXIT_CODE = "tuopin-xiaohao"
RETURN_CODE = "fanpin-jiance"
# The exit line: the household's per-capita net income for the year above the national
# poverty line of the year (about 4,000 yuan in 2020, 2,300 yuan in 2010 prices).
EXIT_INCOME_LINE = Decimal("4000.00")
EXIT_POSTING_DAYS = 7
RETURN_POSTING_DAYS = 5  # monitoring-object postings: at least five days (DOMAIN rule 6)
MONITORING_DAYS = 15


def status_programs_create(
    *,
    actor: Actor,
    county_code: str,
    effective_from: date,
    suffix: str = "",
) -> tuple[Program, Program]:
    """The county's exit (脱贫销号: posted 7 days, the 4,000-yuan income line) and return to
    poverty (返贫挂号: posted 5 days, identified within 15 days of the risk signal), each
    a program of no money whose parameters its chain reads; through ``program_create``."""
    exit_program = program_create(
        actor=actor,
        code=EXIT_CODE + suffix,
        name="脱贫销号",
        kind=Program.Kind.EXIT,
        county_code=county_code,
        budget=Decimal("0.00"),
        effective_from=effective_from,
        policy_reference="国务院扶贫办《关于建立贫困退出机制的意见》（厅字〔2016〕16号）",
        household_cap=Decimal("0.00"),
        posting_days=EXIT_POSTING_DAYS,
        income_line=EXIT_INCOME_LINE,
    )
    return_program = program_create(
        actor=actor,
        code=RETURN_CODE + suffix,
        name="返贫监测",
        kind=Program.Kind.RETURN,
        county_code=county_code,
        budget=Decimal("0.00"),
        effective_from=effective_from,
        policy_reference="《关于建立防止返贫监测和帮扶机制的指导意见》（国开发〔2020〕6号）",
        household_cap=Decimal("0.00"),
        posting_days=RETURN_POSTING_DAYS,
        monitoring_days=MONITORING_DAYS,
    )
    return exit_program, return_program


def loan_program_create(
    *,
    actor: Actor,
    county_code: str,
    budget: Decimal,
    effective_from: date,
    policy_reference: str,
    code: str = LOAN_CODE,
) -> Program:
    """The poverty microloan (扶贫小额信贷): at most 50,000 yuan for at most 36 months
    (银监发〔2017〕42号), three days of posting, and the policy's loan parameters (benchmark
    rate, interest fully subsidised, a fund covering ten times its balance and bearing 70%
    of a bad loan); through ``loans.services.programs``."""
    return loans_program_create(
        actor=actor,
        code=code,
        name="扶贫小额信贷",
        county_code=county_code,
        budget=budget,
        effective_from=effective_from,
        policy_reference=policy_reference,
        max_amount=Decimal("50000.00"),
        max_months=36,
        posting_days=3,
    )
