"""The loan chain's transition × role matrix: every step tried by every role, the system, the
lending bank's officer and another bank's officer, from every state it leaves; allowed
exactly where the chain says, refused everywhere else with nothing changed. And the bank
officer's scope: their bank's loan applications in their county, from the county's
approval on, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from applications.chains import LOAN
from applications.models import Application
from applications.roles import Role
from applications.selectors import applications_visible_to
from approvals.models import Decision
from approvals.services.transitions import application_transition
from common import clock
from common.errors import Code, Forbidden, NotFound, Refused
from loans.selectors import loans_visible_to
from loans.services.lending import loan_drawdown
from tests.applications.test_lifecycle import LEGAL as SUBSIDY_LEGAL
from tests.applications.test_lifecycle import ROLES as SUBSIDY_ROLES
from tests.factories import after_posting
from tests.loans.conftest import LoanWorld

S = Application.Status
SYSTEM = "system"
BANK = "bank_officer"
OTHER_BANK = "other_bank_officer"
ROLES = [*SUBSIDY_ROLES, BANK, OTHER_BANK]
# The head as for subsidies (``tests.applications.test_lifecycle``), then the bank's tail.
LEGAL: dict[tuple[str, str], tuple[set[str], str]] = {
    **{
        key: value
        for key, value in SUBSIDY_LEGAL.items()
        if key not in {("reject", S.APPROVED), ("disburse", S.APPROVED)}
    },
    ("bank_approve", S.APPROVED): ({BANK}, S.BANK_APPROVED),
    ("bank_decline", S.APPROVED): ({BANK}, S.DECLINED),
    ("disburse", S.BANK_APPROVED): ({BANK}, S.DISBURSED),
}
TAKER = {step: next(iter(roles)) for (step, _s), (roles, _t) in LEGAL.items() if roles}
TAKER["reject"] = Role.TOWNSHIP_REVIEWER

ALLOWED = [
    pytest.param(step, state, role, id=f"{step}-from-{state}-by-{role}")
    for (step, state), (roles, _target) in LEGAL.items()
    for role in roles
]
DENIED = [
    pytest.param(step, state, role, id=f"{step}-from-{state}-by-{role}")
    for (step, state), (roles, _target) in LEGAL.items()
    for role in ROLES
    if role not in roles
]
WRONG_STATE = [
    pytest.param(step, state, id=f"{step}-from-{state}")
    for step in LOAN.names
    for state in LOAN.statuses
    if (step, state) not in LEGAL and state != S.RETURNED
]


def _actor(loans: LoanWorld, role: str, app: Application) -> Any:
    if role == SYSTEM:
        return None
    if role == BANK:
        return loans.officer
    if role == OTHER_BANK:
        return loans.other_officer
    return loans.world.actor(role, app.area_code)


def _take(loans: LoanWorld, step: str, app: Application, role: str) -> Application:
    actor = _actor(loans, role, app)
    if step == "bank_approve":
        return loans.approve(app, actor=actor)
    if step == "disburse" and app.status == S.BANK_APPROVED:
        loans.contract(app)
        return loan_drawdown(
            actor=actor, application_id=app.pk, on=clock.today(), amount=app.amount
        ).application
    return application_transition(
        actor=actor,
        application_id=app.pk,
        name=step,
        reason="经核查，材料不全" if step in ("return", "reject", "bank_decline") else "",
        now=after_posting(app) if app.posting_ends_at else timezone.now(),
    )


def _at(loans: LoanWorld, state: str) -> Application:
    if state == S.RETURNED:
        app = loans.application(S.TOWNSHIP_REVIEW)
        application_transition(
            actor=loans.world.user("reviewer_t1"),
            application_id=app.pk,
            name="return",
            reason="补充材料",
        )
        app.refresh_from_db()
        return app
    return loans.application(state)


def test_the_matrix_covers_every_step() -> None:
    assert {step for step, _state in LEGAL} == set(LOAN.names)


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state", "role"), ALLOWED)
def test_allowed_for_its_role(loans: LoanWorld, step: str, state: str, role: str) -> None:
    app = _at(loans, state)
    _take(loans, step, app, role)
    app.refresh_from_db()
    assert app.status == LEGAL[(step, state)][1]
    decision = Decision.objects.filter(application=app).latest("id")
    assert (decision.transition, decision.from_status) == (step, state)


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state", "role"), DENIED)
def test_refused_for_other_roles(loans: LoanWorld, step: str, state: str, role: str) -> None:
    app = _at(loans, state)
    decisions = Decision.objects.filter(application=app).count()
    actor = _actor(loans, role, app)
    # The system has no loan desk: it finds nothing there.
    desk = step == "bank_approve" or (step, state) == ("disburse", S.BANK_APPROVED)
    if actor is None:
        sees = not desk
    else:
        sees = applications_visible_to(actor).filter(pk=app.pk).exists()
    with pytest.raises((Forbidden, Refused, NotFound)) as refused:
        _take(loans, step, app, role)
    if not sees:
        assert isinstance(refused.value, NotFound)
    elif (step, state) == ("reject", S.POSTED) and role == Role.TOWNSHIP_REVIEWER:
        assert refused.value.code == Code.OBJECTION_ONLY
    else:
        assert refused.value.code == Code.ROLE
    app.refresh_from_db()
    assert app.status == state
    assert Decision.objects.filter(application=app).count() == decisions


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state"), WRONG_STATE)
def test_refused_from_the_wrong_state(loans: LoanWorld, step: str, state: str) -> None:
    app = _at(loans, state)
    role = TAKER[step]
    actor = _actor(loans, role, app)
    with pytest.raises((Refused, NotFound)) as refused:
        _take(loans, step, app, role)
    if actor is not None and not applications_visible_to(actor).filter(pk=app.pk).exists():
        assert isinstance(refused.value, NotFound)
    else:
        assert refused.value.code == Code.WRONG_STATE
    app.refresh_from_db()
    assert app.status == state


@pytest.mark.django_db
def test_the_bank_officer_sees_their_bank_s_loans_from_the_county_s_approval(
    loans: LoanWorld, api: Callable[..., APIClient]
) -> None:
    ours = {state: loans.application(state) for state in LOAN.statuses if state != S.RETURNED}
    theirs = loans.application(S.APPROVED, bank="abc-suzhou")
    seen = {
        state
        for state, app in ours.items()
        if applications_visible_to(loans.officer).filter(pk=app.pk).exists()
    }
    assert seen == {S.APPROVED, S.BANK_APPROVED, S.DECLINED, S.DISBURSED}
    assert not applications_visible_to(loans.officer).filter(pk=theirs.pk).exists()
    assert applications_visible_to(loans.other_officer).filter(pk=theirs.pk).exists()
    # No household, no subsidy application, nothing of another county.
    subsidy = loans.world.application(S.APPROVED)
    assert not applications_visible_to(loans.officer).filter(pk=subsidy.pk).exists()
    body = api("xindai").get("/api/v1/households/").json()
    assert body["results"] == []
    assert [loan.pk for loan in loans_visible_to(loans.officer)] == [ours[S.DISBURSED].pk]
    assert not loans_visible_to(loans.other_officer).exists()
