"""The transition × role matrix of DOMAIN.md: every step tried by every role (and by the
system) from every state it leaves, allowed exactly where the chain says, refused everywhere
else with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from applications.chains import SUBSIDY
from applications.lifecycle import lifecycle_of
from applications.models import Application
from applications.roles import Role
from approvals.models import Decision
from approvals.services.transitions import application_transition
from audit.models import AuditEntry
from common.errors import Code, Forbidden, NotFound, Refused
from tests.factories import World, after_posting, upload_signed_agreement

S = Application.Status
SYSTEM = "system"
ROLES = [
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.FINANCE_OFFICER,
    Role.INSPECTOR,
    SYSTEM,
]

# (step, from state) -> (the roles that may take it, the state it leads to). DOMAIN.md:
# reject from ``posted`` happens only by upholding an objection, never as a direct step.
LEGAL: dict[tuple[str, str], tuple[set[str], str]] = {
    ("submit", S.DRAFT): ({Role.VILLAGE_CADRE}, S.SUBMITTED),
    ("submit", S.RETURNED): ({Role.VILLAGE_CADRE}, S.SUBMITTED),
    ("start_posting", S.SUBMITTED): ({Role.VILLAGE_CADRE}, S.POSTED),
    ("close_posting", S.POSTED): ({SYSTEM}, S.TOWNSHIP_REVIEW),
    ("township_approve", S.TOWNSHIP_REVIEW): ({Role.TOWNSHIP_REVIEWER}, S.COUNTY_REVIEW),
    ("county_approve", S.COUNTY_REVIEW): ({Role.COUNTY_APPROVER}, S.APPROVED),
    ("return", S.TOWNSHIP_REVIEW): ({Role.TOWNSHIP_REVIEWER}, S.RETURNED),
    ("return", S.COUNTY_REVIEW): ({Role.COUNTY_APPROVER}, S.RETURNED),
    ("reject", S.POSTED): (set(), S.REJECTED),
    ("reject", S.TOWNSHIP_REVIEW): ({Role.TOWNSHIP_REVIEWER}, S.REJECTED),
    ("reject", S.COUNTY_REVIEW): ({Role.COUNTY_APPROVER}, S.REJECTED),
    # Only after a failed acceptance visit (``payments``): the role is all that is tested.
    ("reject", S.APPROVED): ({Role.COUNTY_APPROVER}, S.REJECTED),
    ("withdraw", S.DRAFT): ({Role.VILLAGE_CADRE}, S.WITHDRAWN),
    ("withdraw", S.SUBMITTED): ({Role.VILLAGE_CADRE}, S.WITHDRAWN),
    ("withdraw", S.POSTED): ({Role.VILLAGE_CADRE}, S.WITHDRAWN),
    ("withdraw", S.RETURNED): ({Role.VILLAGE_CADRE}, S.WITHDRAWN),
    ("disburse", S.APPROVED): ({Role.FINANCE_OFFICER}, S.DISBURSED),
}

# The role that takes each step where it is legal (used to try it from the wrong state).
TAKER = {
    "submit": Role.VILLAGE_CADRE,
    "start_posting": Role.VILLAGE_CADRE,
    "close_posting": SYSTEM,
    "township_approve": Role.TOWNSHIP_REVIEWER,
    "county_approve": Role.COUNTY_APPROVER,
    "return": Role.TOWNSHIP_REVIEWER,
    "reject": Role.TOWNSHIP_REVIEWER,
    "withdraw": Role.VILLAGE_CADRE,
    "disburse": Role.FINANCE_OFFICER,
}

ALLOWED = [
    pytest.param(step, state, role, id=f"{step}-from-{state}-by-{role}")
    for (step, state), (roles, _target) in LEGAL.items()
    for role in ROLES
    if role in roles
]
DENIED = [
    pytest.param(step, state, role, id=f"{step}-from-{state}-by-{role}")
    for (step, state), (roles, _target) in LEGAL.items()
    for role in ROLES
    if role not in roles
]
WRONG_STATE = [
    pytest.param(step, state, id=f"{step}-from-{state}")
    for step in SUBSIDY.names
    for state in SUBSIDY.statuses
    if (step, state) not in LEGAL
]


def _actor(world: World, role: str, app: Application) -> Any:
    return None if role == SYSTEM else world.actor(role, app.area_code)


def _take(world: World, step: str, app: Application, role: str) -> Application:
    if step == "disburse":
        # Payment waits for the signed agreement: here only the role is under test.
        upload_signed_agreement(
            actor=world.actor(Role.VILLAGE_CADRE, app.area_code), application_id=app.pk
        )
        if role == Role.FINANCE_OFFICER:
            # The finance officer's payment is a round the bank confirms, never a button.
            world.pay([app], maker=_actor(world, role, app))
            app.refresh_from_db()
            return app
    return application_transition(
        actor=_actor(world, role, app),
        application_id=app.pk,
        name=step,
        reason="经核查，材料不全" if step in ("return", "reject") else "",
        # The posting window has passed: only the role decides whether it may close.
        now=after_posting(app) if app.posting_ends_at else timezone.now(),
        # An approved application is rejected as the outcome of a failed acceptance.
        via_acceptance=app.status == S.APPROVED,
    )


def test_matrix_covers_every_transition() -> None:
    assert {step for step, _state in LEGAL} == set(SUBSIDY.names)


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state", "role"), ALLOWED)
def test_transition_allowed_for_its_role(world: World, step: str, state: str, role: str) -> None:
    app = world.application(state)

    _take(world, step, app, role)

    app.refresh_from_db()
    assert app.status == LEGAL[(step, state)][1]
    decision = Decision.objects.filter(application=app).latest("id")
    assert (decision.transition, decision.from_status, decision.to_status) == (
        step,
        state,
        app.status,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state", "role"), DENIED)
def test_transition_refused_for_other_roles(world: World, step: str, state: str, role: str) -> None:
    app = world.application(state)
    decisions = Decision.objects.filter(application=app).count()

    # The township reviewer holds the role of a rejection from posting, but a posted
    # application is rejected only by upholding an objection.
    objection_only = (step, state, role) == ("reject", S.POSTED, Role.TOWNSHIP_REVIEWER)

    with pytest.raises((Forbidden, Refused)) as refused:
        _take(world, step, app, role)
    assert refused.value.code == (Code.OBJECTION_ONLY if objection_only else Code.ROLE)

    app.refresh_from_db()
    assert app.status == state
    assert Decision.objects.filter(application=app).count() == decisions


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "state"), WRONG_STATE)
def test_transition_refused_from_wrong_state(world: World, step: str, state: str) -> None:
    app = world.application(state)

    with pytest.raises(Refused) as refused:
        _take(world, step, app, TAKER[step])

    assert refused.value.code == Code.WRONG_STATE
    app.refresh_from_db()
    assert app.status == state


@pytest.mark.django_db
def test_transition_refusal_written_to_audit_trail(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    inspector = world.user("inspector_a")

    with pytest.raises(Forbidden) as refused:
        application_transition(actor=inspector, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.ROLE

    entry = AuditEntry.objects.filter(object_type="application", object_id=str(app.pk)).latest(
        "seq"
    )
    assert entry.outcome == AuditEntry.Outcome.REFUSED
    assert entry.action == "application.township_approve"
    assert entry.actor_id == inspector.pk
    assert entry.from_state == S.TOWNSHIP_REVIEW
    assert entry.to_state == ""


@pytest.mark.django_db
def test_transition_illegal_step_written_to_audit_trail(world: World) -> None:
    app = world.application(S.DRAFT)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("finance_a"), application_id=app.pk, name="disburse"
        )
    assert refused.value.code == Code.WRONG_STATE

    entry = AuditEntry.objects.filter(object_type="application", object_id=str(app.pk)).latest(
        "seq"
    )
    assert (entry.outcome, entry.action, entry.from_state) == (
        AuditEntry.Outcome.REFUSED,
        "application.disburse",
        S.DRAFT,
    )


@pytest.mark.django_db
def test_transition_success_written_to_audit_trail(world: World) -> None:
    app = world.application(S.SUBMITTED)
    cadre = world.user("cadre_v1")

    application_transition(actor=cadre, application_id=app.pk, name="start_posting")

    entry = AuditEntry.objects.filter(object_type="application", object_id=str(app.pk)).latest(
        "seq"
    )
    assert (entry.outcome, entry.action, entry.actor_id) == (
        AuditEntry.Outcome.DONE,
        "application.start_posting",
        cadre.pk,
    )
    assert (entry.from_state, entry.to_state) == (S.SUBMITTED, S.POSTED)


@pytest.mark.django_db
def test_transition_unknown_name_refused(world: World) -> None:
    app = world.application(S.DRAFT)

    with pytest.raises(NotFound) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="skip")
    assert refused.value.code == Code.UNKNOWN_STEP

    app.refresh_from_db()
    assert app.status == S.DRAFT


@pytest.mark.django_db
def test_lifecycle_start_posting_sets_window_from_program(world: World) -> None:
    app = world.application(S.POSTED)

    assert app.posting_started_at is not None and app.posting_ends_at is not None
    days = app.program_version.posting_days
    assert (app.posting_ends_at - app.posting_started_at).days == days


@pytest.mark.django_db
def test_lifecycle_available_transitions_follow_role(world: World) -> None:
    from approvals.services.transitions import available_transitions

    app = world.application(S.TOWNSHIP_REVIEW)

    assert set(available_transitions(app, world.user("reviewer_t1"))) == {
        "township_approve",
        "return",
        "reject",
    }
    assert available_transitions(app, world.user("inspector_a")) == []
    assert available_transitions(app, world.user("cadre_v1")) == []


@pytest.mark.django_db
def test_lifecycle_leaves_current_state_only_along_chain(world: World) -> None:
    app = world.application(S.DRAFT)
    lifecycle = lifecycle_of(app)

    leaving = {name for name in SUBSIDY.names if lifecycle.leaves_current_state(name)}

    assert leaving == {"submit", "withdraw"}
