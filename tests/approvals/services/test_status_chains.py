"""The exit from poverty (脱贫销号) and the return to it (返贫挂号) as chains: filed with their
facts, posted, reviewed, and the household's status changed only by the county's approval."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from applications.chains import EXIT, RETURN, chain_of
from applications.models import Application, Household, StatusChange
from approvals.models import Objection
from approvals.services.filing import application_create, application_edit
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import application_transition, posting_close_if_due
from audit.models import AuditEntry
from common import clock
from common.errors import Code, InvalidInput, Refused
from tests.factories import VILLAGE_1, World, after_posting, record_appraisal
from workflows.selectors import process_divergences

S = Application.Status
H = Household.Status
pytestmark = pytest.mark.django_db


def propose_exit(world: World, household: Household, **change: Any) -> Application:
    facts = {
        "income_per_capita": Decimal("6200"),
        "income_year": clock.today().year - 1,
        "visit_date": clock.today() - timedelta(days=1),
    } | change
    return application_create(
        actor=world.user("cadre_v1"),
        household_id=household.pk,
        program_id=world.exit_program.pk,
        change=facts,
    )


def test_an_exit_travels_its_chain_and_exits_the_household(world: World) -> None:
    household = world.household(VILLAGE_1)

    app = world.status_change(household, "exit")

    household.refresh_from_db()
    assert chain_of(app) is EXIT and app.status == S.CONCLUDED and app.amount == 0
    assert household.status == H.EXITED and household.status_since == clock.today()
    assert StatusChange.objects.get(application=app).effective_on == clock.today()
    entry = AuditEntry.objects.get(action="household.status", object_id=str(household.pk))
    assert (entry.from_state, entry.to_state) == (H.REGISTERED, H.EXITED)
    assert entry.changes["application"] == [None, str(app.pk)]
    assert list(process_divergences()) == []


def test_an_exit_is_posted_for_its_program_s_seven_days(world: World) -> None:
    app = world.status_change(world.household(VILLAGE_1), "exit", S.POSTED)

    assert app.posting_ends_at is not None and app.posting_started_at is not None
    assert app.posting_ends_at - app.posting_started_at == timedelta(days=7)
    assert not posting_close_if_due(application_id=app.pk, now=clock.now() + timedelta(days=6))


def test_an_upheld_objection_rejects_an_exit(world: World) -> None:
    app = world.status_change(world.household(VILLAGE_1), "exit", S.POSTED)
    objection = objection_raise(
        actor=world.user("cadre_v1"), application_id=app.pk, text="家中仍有重病人，收入未达标"
    )

    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=True, reason="核实属实"
    )

    app.refresh_from_db()
    assert app.status == S.REJECTED
    assert Objection.objects.get(pk=objection.pk).status == Objection.Status.UPHELD
    assert Household.objects.get(pk=app.household_id).status == H.REGISTERED


def test_an_exit_needs_the_head_s_signed_confirmation(world: World) -> None:
    app = world.status_change(world.household(VILLAGE_1), "exit", S.DRAFT, confirmed=False)

    with pytest.raises(Refused) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")

    assert refused.value.code == Code.EXIT_CONFIRMATION_MISSING


def test_an_income_below_the_line_cannot_exit(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = propose_exit(world, household, income_per_capita=Decimal("3999.99"))
    record_appraisal(actor=world.user("cadre_v1"), application_id=app.pk)

    with pytest.raises(Refused) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")

    assert refused.value.code == Code.INCOME_BELOW_LINE
    application_edit(
        actor=world.user("cadre_v1"),
        application_id=app.pk,
        change={
            "income_per_capita": "4300",
            "income_year": clock.today().year - 1,
            "visit_date": clock.today(),
        },
    )
    assert StatusChange.objects.get(application=app).income_per_capita == Decimal("4300.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"income_per_capita": "很多"}, "income_per_capita"),
        ({"income_per_capita": "-1"}, "income_per_capita"),
        ({"income_year": "1999"}, "income_year"),
        ({"visit_date": None}, "visit_date"),
    ],
)
def test_an_exit_s_facts_are_checked_at_filing(
    world: World, change: dict[str, Any], field: str
) -> None:
    household = world.household(VILLAGE_1)

    with pytest.raises(InvalidInput) as refused:
        propose_exit(world, household, **change)

    assert field in refused.value.errors
    assert not Application.objects.filter(household=household).exists()


def test_only_an_exited_household_returns_and_only_others_exit(world: World) -> None:
    registered = world.household(VILLAGE_1)
    with pytest.raises(InvalidInput) as refused:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=registered.pk,
            program_id=world.return_program.pk,
            change={"risk_cause": "illness", "risk_date": clock.today()},
        )
    assert refused.value.code == Code.HOUSEHOLD_INELIGIBLE

    exited = world.exited(VILLAGE_1)
    with pytest.raises(InvalidInput) as again:
        propose_exit(world, exited)
    assert again.value.code == Code.HOUSEHOLD_INELIGIBLE


def test_a_return_is_due_within_the_monitoring_days_and_returns_the_household(
    world: World,
) -> None:
    household = world.exited(VILLAGE_1)

    app = world.status_change(household, "return", S.POSTED)

    change = StatusChange.objects.get(application=app)
    assert change.due_on == change.risk_date + timedelta(days=15)  # type: ignore[operator]
    assert app.posting_ends_at - app.posting_started_at == timedelta(days=5)  # type: ignore[operator]
    assert chain_of(app) is RETURN
    posting_close_if_due(application_id=app.pk, now=after_posting(app))
    for step, user in (("township_approve", "reviewer_t1"), ("county_approve", "approver_a")):
        application_transition(actor=world.user(user), application_id=app.pk, name=step)
    household.refresh_from_db()
    assert household.status == H.RETURNED


def test_a_return_needs_its_risk_signal(world: World) -> None:
    household = world.exited(VILLAGE_1)

    with pytest.raises(InvalidInput) as refused:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.return_program.pk,
            change={"risk_cause": "laziness", "risk_date": clock.today() + timedelta(days=1)},
        )

    assert set(refused.value.errors) == {"risk_cause", "risk_date"}


def test_an_exited_household_applies_where_the_program_keeps_its_policies(
    world: World,
) -> None:
    household = world.exited(VILLAGE_1)
    version = world.program.versions.get()

    def apply() -> Application:
        return application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    with pytest.raises(InvalidInput) as refused:
        apply()
    assert refused.value.code == Code.HOUSEHOLD_INELIGIBLE
    version.exited_eligible = True
    version.save(update_fields=["exited_eligible"])
    assert apply().status == S.DRAFT


def test_status_is_not_edited_with_the_household(world: World, api: Any) -> None:
    household = world.household(VILLAGE_1)

    response = api("cadre_v1").patch(
        f"/api/v1/households/{household.pk}/", {"status": "exited"}, format="json"
    )

    assert response.status_code == 400
    assert "status" in response.json()
    household.refresh_from_db()
    assert household.status == H.REGISTERED
    assert not AuditEntry.objects.filter(
        action="household.update", object_id=str(household.pk)
    ).exists()


def test_a_household_exits_again_after_returning(world: World) -> None:
    household = world.exited(VILLAGE_1)
    world.status_change(household, "return")

    world.status_change(Household.objects.get(pk=household.pk), "exit")

    household.refresh_from_db()
    assert household.status == H.EXITED
    assert Application.objects.filter(household=household, status=S.CONCLUDED).count() == 3


def test_submit_is_offered_once_the_exit_s_facts_and_confirmation_are_there(
    world: World,
) -> None:
    from approvals.services.transitions import available_transitions

    app = world.status_change(world.household(VILLAGE_1), "exit", S.DRAFT)
    cadre = world.user("cadre_v1")

    assert "submit" in available_transitions(app, cadre)
    unconfirmed = world.status_change(world.household(VILLAGE_1), "exit", S.DRAFT, confirmed=False)
    assert "submit" not in available_transitions(unconfirmed, cadre)


def test_a_household_s_status_is_not_changed_twice_by_two_approvals(world: World) -> None:
    from applications.services import household_status_change

    household = world.exited(VILLAGE_1)
    app = Application.objects.get(household=household, program=world.exit_program)

    # A second exit approved at the same moment finds the household exited already.
    with pytest.raises(Refused) as refused:
        household_status_change(
            actor=world.user("approver_a"),
            household_id=household.pk,
            status=H.EXITED,
            application=app,
        )

    assert refused.value.code == Code.HOUSEHOLD_INELIGIBLE
    assert (
        AuditEntry.objects.filter(action="household.status", object_id=str(household.pk)).count()
        == 1
    )
