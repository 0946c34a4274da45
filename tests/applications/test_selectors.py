"""Scope is data: what a user may see is a code-prefix filter built from their grants."""

from __future__ import annotations

import pytest

from applications.idnumbers import lookup_hash
from applications.models import Application, Household
from applications.roles import Role, level_of_code, prefix_of_code
from applications.selectors import (
    ApplicationFilters,
    application_filters_parse,
    application_get,
    applications_search,
    applications_visible_to,
    areas_visible_to,
    bank_cards_shared,
    programs_visible_to,
    scope_prefixes,
)
from applications.services import role_grant
from tests.factories import (
    COUNTY,
    COUNTY_B,
    TOWNSHIP_1,
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    VILLAGE_B,
    World,
    bank_card_number,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("code", "level", "prefix"),
    [
        (COUNTY, "county", "620902"),
        (TOWNSHIP_1, "township", "620902100"),
        (VILLAGE_1, "village", VILLAGE_1),
    ],
)
def test_level_and_prefix_from_code(world: World, code: str, level: str, prefix: str) -> None:
    assert (level_of_code(code), prefix_of_code(code)) == (level, prefix)


def test_scope_prefixes_collapse_nested_grants(world: World) -> None:
    user, _ = role_grant(actor=None, username="u", role=Role.VILLAGE_CADRE, area_code=VILLAGE_1)
    user, _ = role_grant(
        actor=None, username="u", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_1
    )

    assert scope_prefixes(user) == ["620902100"]


def test_scope_prefixes_by_role(world: World) -> None:
    user, _ = role_grant(actor=None, username="u", role=Role.VILLAGE_CADRE, area_code=VILLAGE_1)
    user, _ = role_grant(actor=None, username="u", role=Role.INSPECTOR, area_code=COUNTY_B)

    assert scope_prefixes(user, roles=[Role.INSPECTOR]) == ["620903"]


def test_user_without_grants_sees_nothing(world: World) -> None:
    from django.contrib.auth import get_user_model

    world.application("draft")
    nobody = get_user_model().objects.create_user("nobody", password="pw-nobody")

    assert not applications_visible_to(nobody).exists()
    assert not areas_visible_to(nobody).exists()
    assert not programs_visible_to(nobody).exists()


def test_applications_visible_to_township_reviewer(world: World) -> None:
    mine = {world.application("draft").pk, world.application("draft", area_code=VILLAGE_2).pk}
    world.application("draft", area_code=VILLAGE_3)
    world.application("draft", area_code=VILLAGE_B)

    visible = set(applications_visible_to(world.user("reviewer_t1")).values_list("pk", flat=True))

    assert visible == mine


def test_applications_visible_to_roles_filter(world: World) -> None:
    world.application("draft")
    user, _ = role_grant(actor=None, username="u", role=Role.INSPECTOR, area_code=COUNTY)

    assert applications_visible_to(user).count() == 1
    assert applications_visible_to(user, roles=[Role.COUNTY_APPROVER]).count() == 0


def test_application_get_out_of_scope_does_not_exist(world: World) -> None:
    from applications.models import Application

    app = world.application("draft")

    with pytest.raises(Application.DoesNotExist):
        application_get(world.user("cadre_v2"), app.pk)


def test_programs_visible_to_county_only(world: World) -> None:
    assert set(programs_visible_to(world.user("cadre_v3"))) == {
        world.program,
        world.exit_program,
        world.return_program,
    }
    assert list(programs_visible_to(world.user("cadre_b"))) == [world.program_b]


# --- a bank card shared by households (DOMAIN rule 5) ------------------------------------------


def test_bank_cards_shared_counts_the_households_of_each_shared_card(world: World) -> None:

    twice, thrice, once = bank_card_number(), bank_card_number(), bank_card_number()
    for card, areas in ((twice, [VILLAGE_1, VILLAGE_B]), (thrice, [VILLAGE_1] * 3)):
        for area in areas:
            world.household(area, bank_card=card)
    world.household(VILLAGE_1, bank_card=once)
    hashes = [lookup_hash(c) for c in (twice, thrice, once)]

    assert dict(bank_cards_shared(hashes)) == {hashes[0]: 2, hashes[1]: 3}
    assert dict(bank_cards_shared(hashes[2:])) == {}


def test_bank_cards_shared_counts_households_outside_the_subquery(world: World) -> None:

    card = bank_card_number()
    mine = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_B, bank_card=card)  # another county

    shared = bank_cards_shared(Household.objects.filter(pk=mine.pk).values("bank_card_hash"))

    assert list(shared) == [(lookup_hash(card), 2)]


# --- list filters ------------------------------------------------------------------------------


def test_application_filters_parse_reads_every_vocabulary() -> None:
    filters, chosen, errors = application_filters_parse(
        {"status": "posted,approved", "program": "7", "household": "9", "township": "620902100000"}
    )

    assert errors == {}
    assert filters == ApplicationFilters(
        statuses=("posted", "approved"), program_id=7, household_id=9, area_prefixes=("620902100",)
    )
    assert chosen["township"] == "620902100000"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "posted,nonsense"}, "status"),
        ({"program": "x"}, "program"),
        ({"household": "-1"}, "household"),
        ({"area": "62a"}, "area"),
        ({"township": "6209021"}, "township"),
        ({"village": "6209"}, "village"),
    ],
)
def test_application_filters_parse_names_bad_values(params: dict[str, str], field: str) -> None:
    filters, chosen, errors = application_filters_parse(params)

    assert list(errors) == [field]
    assert field not in chosen


def test_application_filters_parse_drops_what_a_page_does_not_offer() -> None:
    filters, chosen, errors = application_filters_parse(
        {"state": "approved", "township": "620903100000"},
        allowed={"state": ["posted"], "township": ["620902100000"]},
    )

    assert (filters, chosen, errors) == (ApplicationFilters(), {}, {})


@pytest.mark.django_db
def test_applications_search_stays_in_scope_whatever_the_filter(world: World) -> None:
    mine = world.application(Application.Status.DRAFT)
    theirs = world.application(Application.Status.DRAFT, area_code=VILLAGE_B)

    everywhere = ApplicationFilters(area_prefixes=("62",))
    found = set(
        applications_search(world.user("cadre_v1"), filters=everywhere).values_list("pk", flat=True)
    )

    assert mine.pk in found and theirs.pk not in found


@pytest.mark.django_db
def test_a_township_and_a_village_outside_it_find_nothing(world: World) -> None:
    in_township = world.application(Application.Status.DRAFT, area_code=VILLAGE_1)
    filters, _chosen, _errors = application_filters_parse(
        {"township": TOWNSHIP_1, "village": VILLAGE_3}
    )
    inside, _c, _e = application_filters_parse({"township": TOWNSHIP_1, "village": VILLAGE_1})

    assert not applications_search(world.user("approver_a"), filters=filters).exists()
    found = applications_search(world.user("approver_a"), filters=inside)
    assert list(found.values_list("pk", flat=True)) == [in_township.pk]
