"""``approvals.services.card_checks``: payment only to the head's card, the holds on a shared
or recently changed card, and the card check that releases them (DOMAIN rule 5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from applications.models import Application, Household, KinDeclaration
from applications.roles import Role
from applications.services import (
    household_update,
    program_version_add,
)
from approvals.models import CardCheck
from approvals.selectors import card_facts
from approvals.services.card_checks import card_check_allowed, card_check_record
from audit.models import AuditEntry
from common import clock
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from tests.factories import (
    COUNTY,
    SEED_PROGRAM_ITEMS,
    VILLAGE_1,
    VILLAGE_2,
    World,
    bank_card_number,
    colleague,
    declare_kin,
    id_number,
    upload_signed_agreement,
)

S = Application.Status


# --- payment only to the head's card; holds (DOMAIN rule 5) ---------------------------------


def approved_with_agreement(world: World, household: Household | None = None) -> Application:
    app = world.application(S.APPROVED, household=household)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    return app


def disburse(world: World, app: Application, *, actor: Any = None, days_later: int = 0) -> None:
    """Pay the application through a round of its own drawn up by ``actor``, ``days_later``."""
    with clock.frozen_at(timezone.now() + timedelta(days=days_later)):
        world.pay([app], maker=actor)


def card_change(world: World, household: Household) -> None:
    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, bank_card=bank_card_number()
    )


@pytest.mark.django_db
def test_shared_card_holds_the_payment(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app)
    assert refused.value.code == Code.CARD_HELD

    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert "另一户" in refused.value.message or "another household" in refused.value.message
    assert AuditEntry.objects.filter(
        action="payment_round.create", outcome=AuditEntry.Outcome.REFUSED
    ).exists()


@pytest.mark.django_db
def test_card_check_releases_the_hold(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    check = card_check_record(
        actor=world.user("approver_a"), application_id=app.pk, reason="经银行核实，户名为户主本人。"
    )
    disburse(world, app)

    app.refresh_from_db()
    assert app.status == S.DISBURSED
    assert check.bank_card_hash == household.bank_card_hash
    entry = AuditEntry.objects.get(object_id=str(app.pk), action="application.card_check")
    assert entry.actor_name == "approver_a"
    assert entry.reason == "经银行核实，户名为户主本人。"


@pytest.mark.django_db
def test_card_checker_may_not_pay_while_another_officer_may(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)
    finance = world.user("finance_a")
    card_check_record(actor=finance, application_id=app.pk, reason="电话核实户主本人开卡。")

    with pytest.raises(Refused) as refused:
        disburse(world, app, actor=finance)
    assert refused.value.code == Code.CARD_CHECKER_PAYS
    app.refresh_from_db()
    assert app.status == S.APPROVED

    disburse(world, app, actor=colleague("finance_a2", Role.FINANCE_OFFICER, COUNTY))
    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_recent_card_change_holds_the_payment(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    card_change(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app, days_later=29)
    assert refused.value.code == Code.CARD_HELD
    assert "30" in refused.value.message

    disburse(world, app, days_later=31)
    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_card_change_window_is_the_program_parameter(world: World) -> None:
    program_version_add(
        actor=None,
        program=world.program,
        effective_from=timezone.localdate(),
        policy_reference="县扶贫办：一卡通变更后暂停发放5日",
        household_cap=Decimal("5000.00"),
        items=SEED_PROGRAM_ITEMS,
        card_change_hold_days=5,
    )
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    assert app.program_version.card_change_hold_days == 5
    card_change(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app, days_later=4)
    assert refused.value.code == Code.CARD_HELD
    disburse(world, app, days_later=6)

    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_a_new_card_after_the_check_holds_the_payment_again(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    card_change(world, household)
    card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="已核实。")
    card_change(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app)
    assert refused.value.code == Code.CARD_HELD


@pytest.mark.django_db
def test_card_not_in_the_heads_name_refused_at_payment(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    Household.objects.filter(pk=household.pk).update(bank_card_holder="张三")  # behind the app

    with pytest.raises(Refused) as refused:
        disburse(world, app)
    assert refused.value.code == Code.CARD_NOT_HEAD


@pytest.mark.django_db
def test_card_check_refused_when_nothing_is_held(world: World) -> None:
    app = approved_with_agreement(world)

    with pytest.raises(Refused) as refused:
        card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="核实。")
    assert refused.value.code == Code.CARD_NOT_HELD
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_card_check_refused_to_a_cadre(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    with pytest.raises(Forbidden) as refused:
        card_check_record(actor=world.user("cadre_v1"), application_id=app.pk, reason="核实。")
    assert refused.value.code == Code.ROLE
    with pytest.raises(InvalidInput) as invalid:
        card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason=" ")
    assert invalid.value.code == Code.INVALID
    assert "reason" in invalid.value.errors
    with pytest.raises(NotFound) as not_found:
        card_check_record(actor=world.user("approver_b"), application_id=app.pk, reason="核实。")
    assert not_found.value.code == Code.NOT_FOUND
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_card_check_refused_to_a_recused_officer(world: World) -> None:
    relative, card = id_number(), bank_card_number()
    household = world.household(VILLAGE_1, head_id_number=relative, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)
    approver = world.user("approver_a")
    declare_kin(official=approver, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)

    with pytest.raises(Forbidden) as refused:
        card_check_record(actor=approver, application_id=app.pk, reason="核实。")
    assert refused.value.code == Code.RECUSED
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_payment_unheld_by_default_goes_through(world: World) -> None:
    app = approved_with_agreement(world)

    disburse(world, app)

    app.refresh_from_db()
    assert app.status == S.DISBURSED


# --- whether a card check is offered --------------------------------------------------------


def held_payment(world: World) -> Application:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    return approved_with_agreement(world, household)


def check_allowed(user: Any, app: Application, *, recused: bool = False) -> bool:
    return card_check_allowed(user, app, card=card_facts(app), recused=recused, now=timezone.now())


@pytest.mark.django_db
def test_card_check_allowed_for_the_county_officers_of_a_held_payment(world: World) -> None:
    app = held_payment(world)

    assert check_allowed(world.user("approver_a"), app)
    assert check_allowed(world.user("finance_a"), app)
    assert not check_allowed(world.user("cadre_v1"), app)
    assert not check_allowed(world.user("reviewer_t1"), app)
    assert not check_allowed(world.user("approver_a"), app, recused=True)


@pytest.mark.django_db
def test_card_check_allowed_as_long_as_the_service_would_take_it(world: World) -> None:
    app = held_payment(world)
    unheld = approved_with_agreement(world)
    assert not check_allowed(world.user("approver_a"), unheld)
    with pytest.raises(Refused) as refused:
        card_check_record(actor=world.user("approver_a"), application_id=unheld.pk, reason="核实。")
    assert refused.value.code == Code.CARD_NOT_HELD

    card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="已核实。")

    assert not check_allowed(world.user("finance_a"), app)
    with pytest.raises(Refused) as refused:
        card_check_record(actor=world.user("finance_a"), application_id=app.pk, reason="再核实。")
    assert refused.value.code == Code.CARD_CHECKED
