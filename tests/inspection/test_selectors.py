"""What inspectors read (``inspection.selectors``): the red flags of their county, bank cards
shared by households and payments held for a card check."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from applications.models import Application, Household
from applications.permissions import grants_of
from applications.roles import Role
from applications.services import household_update
from approvals.selectors import applications_payment_held
from approvals.services.card_checks import card_check_record
from inspection import selectors
from inspection.selectors import payments_held_visible_to, shared_cards_visible_to
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_B,
    World,
    bank_card_number,
)

pytestmark = pytest.mark.django_db

S = Application.Status


# --- a bank card shared by households (DOMAIN rule 5) ------------------------------------------


def test_shared_cards_visible_to_counts_the_households_elsewhere(world: World) -> None:
    card = bank_card_number()
    mine = [world.household(VILLAGE_1, bank_card=card), world.household(VILLAGE_2, bank_card=card)]
    world.household(VILLAGE_B, bank_card=card)
    world.household(VILLAGE_1)

    [shared] = shared_cards_visible_to(world.user("reviewer_t1"))

    assert list(shared.households) == mine
    assert shared.elsewhere == 1
    assert shared_cards_visible_to(world.user("cadre_v3")) == []


def test_shared_cards_visible_to_stops_at_the_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        card = bank_card_number()
        world.household(VILLAGE_1, bank_card=card)
        world.household(VILLAGE_2, bank_card=card)
    monkeypatch.setattr(selectors, "MAX_RED_FLAGS", 2)

    found = shared_cards_visible_to(world.user("reviewer_t1"))

    assert len(found) == 2 and all(len(s.households) == 2 for s in found)


# --- payments held for a card check (DOMAIN rule 5) --------------------------------------------


def shared_card_application(world: World, area_code: str = VILLAGE_1) -> Application:
    """An approved application whose household's card is also another household's."""
    card = bank_card_number()
    app = world.application(S.APPROVED, household=world.household(area_code, bank_card=card))
    world.household(area_code, bank_card=card)
    return app


def change_card(world: World, household: Household) -> None:
    household_update(
        actor=world.actor(Role.VILLAGE_CADRE, household.area_code),
        household_id=household.pk,
        bank_card=bank_card_number(),
    )


def held_ids(
    world: World, username: str = "inspector_a", *, now: datetime | None = None, limit: int = 100
) -> list[int]:
    user = world.user(username)
    return [a.pk for a in payments_held_visible_to(user, now=now or timezone.now(), limit=limit)]


def test_payments_held_visible_to_finds_a_shared_card(world: World) -> None:
    held = shared_card_application(world)
    world.application(S.APPROVED)  # a card of its own: paid without a check

    assert held_ids(world) == [held.pk]


def test_payments_held_visible_to_leaves_out_a_checked_card(world: World) -> None:
    app = shared_card_application(world)
    card_check_record(
        actor=world.user("approver_a"), application_id=app.pk, reason="已核实户主本人。"
    )

    assert held_ids(world) == []


def test_payments_held_visible_to_holds_again_after_the_checked_card_changes(
    world: World,
) -> None:
    app = shared_card_application(world)
    card_check_record(
        actor=world.user("approver_a"), application_id=app.pk, reason="已核实户主本人。"
    )

    change_card(world, app.household)

    assert held_ids(world) == [app.pk]


def test_payments_held_visible_to_holds_a_recent_card_change_for_the_programs_days(
    world: World,
) -> None:
    app = world.application(S.APPROVED)
    change_card(world, app.household)
    days = app.program_version.card_change_hold_days

    assert held_ids(world) == [app.pk]
    assert held_ids(world, now=timezone.now() + timedelta(days=days - 1)) == [app.pk]
    assert held_ids(world, now=timezone.now() + timedelta(days=days, minutes=1)) == []


def test_payments_held_visible_to_only_approved_applications(world: World) -> None:
    card = bank_card_number()
    world.application(S.COUNTY_REVIEW, household=world.household(VILLAGE_1, bank_card=card))
    world.household(VILLAGE_2, bank_card=card)

    assert held_ids(world) == []


def test_payments_held_visible_to_stays_in_the_users_county(world: World) -> None:
    mine = shared_card_application(world)
    theirs = shared_card_application(world, VILLAGE_B)

    assert held_ids(world, "inspector_a") == [mine.pk]
    assert held_ids(world, "inspector_b") == [theirs.pk]


def test_payments_held_visible_to_oldest_first_up_to_the_limit(world: World) -> None:
    first, second, _third = (shared_card_application(world) for _ in range(3))

    assert held_ids(world, limit=2) == [first.pk, second.pk]


def test_payments_held_visible_to_agrees_with_the_policy_on_every_approved_one(
    world: World,
) -> None:
    shared_card_application(world)
    checked = shared_card_application(world)
    card_check_record(actor=world.user("approver_a"), application_id=checked.pk, reason="已核实。")
    changed = world.application(S.APPROVED)
    change_card(world, changed.household)
    world.application(S.APPROVED)
    now = timezone.now()

    approved = list(Application.objects.filter(status=S.APPROVED, area_code__startswith="620902"))

    assert set(held_ids(world, now=now)) == applications_payment_held(approved, now=now)


def test_payments_held_visible_to_merges_both_reasons_oldest_first_up_to_the_limit(
    world: World,
) -> None:
    changed_1 = world.application(S.APPROVED)
    shared_1 = shared_card_application(world)
    changed_2 = world.application(S.APPROVED)
    shared_card_application(world)
    for app in (changed_1, changed_2):
        change_card(world, app.household)

    assert held_ids(world, limit=3) == [changed_1.pk, shared_1.pk, changed_2.pk]


def test_payments_held_visible_to_in_a_fixed_number_of_queries(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    inspector = world.user("inspector_a")
    grants_of(inspector)  # the roles are read once per request, before any page
    counted = []
    for held in (1, 4):
        for _ in range(held):
            shared_card_application(world)
            change_card(world, world.application(S.APPROVED).household)
        with CaptureQueriesContext(connection) as queries:
            found = payments_held_visible_to(inspector, now=timezone.now(), limit=100)
        counted.append((len(found), len(queries)))

    # The holds, one query of numbers per reason, the rows, and the card facts' four.
    assert counted == [(2, 8), (10, 8)]
