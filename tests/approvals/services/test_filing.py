"""``approvals.services.filing``: filing and editing an application (one active application,
eligibility, items and caps, the appraisal) and what a household may still receive."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.models import Application, Household
from applications.services import (
    program_version_current,
)
from approvals.services.filing import application_create, application_edit, subsidy_available
from approvals.services.transitions import application_transition
from common.errors import Code, Forbidden, InvalidInput, Refused
from tests.factories import (
    VILLAGE_1,
    World,
    record_appraisal,
)

S = Application.Status


# --- one active application, eligibility, caps, budget -----------------------------------


@pytest.mark.django_db
def test_application_create_refused_with_active_application(world: World) -> None:
    first = world.application(S.POSTED)

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=first.household_id,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )
    assert error.value.code == Code.ACTIVE_APPLICATION
    assert error.value.as_dict()["household"] == [
        _("This household already has an active application for this program.")
    ]
    assert Application.objects.filter(household_id=first.household_id).count() == 1


@pytest.mark.django_db
def test_application_create_allowed_after_rejection(world: World) -> None:
    first = world.application(S.REJECTED)

    second = application_create(
        actor=world.user("cadre_v1"),
        household_id=first.household_id,
        program_id=world.program.pk,
        items=[{"item": "sheep", "quantity": 1}],
    )

    assert second.status == S.DRAFT


@pytest.mark.django_db
def test_application_create_refused_for_exited_household(world: World) -> None:
    household = world.exited(VILLAGE_1)

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )
    assert error.value.code == Code.HOUSEHOLD_INELIGIBLE
    assert error.value.as_dict()["household"] == [
        _("Only registered or returned-to-poverty households may apply.")
    ]
    assert not Application.objects.filter(household=household, program=world.program).exists()


@pytest.mark.django_db
def test_application_create_allowed_for_returned_household(world: World) -> None:
    household = world.exited(VILLAGE_1)
    world.status_change(household, "return")
    household.refresh_from_db()
    assert household.status == Household.Status.RETURNED

    app = application_create(
        actor=world.user("cadre_v1"),
        household_id=household.pk,
        program_id=world.program.pk,
        items=[{"item": "sheep", "quantity": 1}],
    )

    assert app.amount == Decimal("200.00")


@pytest.mark.django_db
def test_application_amount_computed_from_items(world: World) -> None:
    app = world.application(
        S.DRAFT, items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 10}]
    )

    assert app.amount == Decimal("5000.00")
    assert sorted((line.item.code, line.amount) for line in app.items.all()) == [
        ("pen", Decimal("3000.00")),
        ("sheep", Decimal("2000.00")),
    ]


@pytest.mark.django_db
def test_application_create_refused_over_cap(world: World) -> None:
    household = world.household(VILLAGE_1)

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 11}],
        )
    assert error.value.code == Code.OVER_CAP

    assert "items" in error.value.as_dict()
    assert not Application.objects.filter(household=household, program=world.program).exists()


@pytest.mark.django_db
def test_application_create_cap_counts_earlier_payments(world: World) -> None:
    first = world.application(S.DISBURSED)  # 4000 yuan paid

    with pytest.raises(InvalidInput) as refused:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=first.household_id,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 6}],  # 1200 > the 1000 left
        )
    assert refused.value.code == Code.OVER_CAP

    assert Application.objects.filter(household_id=first.household_id).count() == 1


@pytest.mark.django_db
def test_application_edit_refused_over_cap(world: World) -> None:
    app = world.application(S.DRAFT)

    with pytest.raises(InvalidInput) as refused:
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            items=[{"item": "sheep", "quantity": 26}],
        )
    assert refused.value.code == Code.OVER_CAP

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")


@pytest.mark.django_db
def test_application_edit_refused_after_submit(world: World) -> None:
    app = world.application(S.SUBMITTED)

    with pytest.raises(Refused) as refused:
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )
    assert refused.value.code == Code.NOT_EDITABLE

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")


@pytest.mark.django_db
def test_appraisal_in_future_refused(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(InvalidInput) as refused:
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            appraisal_date=timezone.localdate() + timedelta(days=1),
        )
    assert refused.value.code == Code.INVALID
    assert "appraisal_date" in refused.value.as_dict()

    app.refresh_from_db()
    assert app.appraisal_date is None


@pytest.mark.django_db
def test_application_create_refused_for_household_of_other_village(world: World) -> None:
    household = world.household(VILLAGE_1)

    with pytest.raises(InvalidInput) as refused:
        application_create(
            actor=world.user("cadre_v2"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )
    assert refused.value.code == Code.INVALID
    assert refused.value.as_dict()["household"] == [_("No such household in your village.")]

    assert not Application.objects.filter(household=household, program=world.program).exists()


@pytest.mark.django_db
def test_record_appraisal_refused_for_reviewer(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(Forbidden) as refused:
        record_appraisal(actor=world.user("reviewer_t1"), application_id=app.pk)
    assert refused.value.code == Code.ROLE

    app.refresh_from_db()
    assert app.appraisal_date is None


# --- what a household may still receive -------------------------------------------------------


@pytest.mark.django_db
def test_subsidy_available_is_the_cap_less_what_was_approved_or_paid(world: World) -> None:
    household = world.household(VILLAGE_1)
    version = program_version_current(world.program)
    assert subsidy_available(household_id=household.pk, version=version) == Decimal("5000.00")
    draft = world.application(S.DRAFT, household=household)
    assert subsidy_available(household_id=household.pk, version=version) == Decimal("5000.00")

    application_transition(actor=world.user("cadre_v1"), application_id=draft.pk, name="withdraw")
    approved = world.application(S.APPROVED, household=household)  # 4000 yuan

    assert subsidy_available(household_id=household.pk, version=version) == Decimal("1000.00")
    assert subsidy_available(
        household_id=household.pk, version=version, exclude=approved.pk
    ) == Decimal("5000.00")
