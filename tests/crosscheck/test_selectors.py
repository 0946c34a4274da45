"""Who reads the cross-checks (``crosscheck.selectors``): inspectors of their counties,
administrators of all, nobody else; which list of a kind is in force."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model

from common.errors import Code, Forbidden, NotFound
from crosscheck.models import ReferenceList
from crosscheck.selectors import county_for, crosscheck_counties, leads_filtered, lists_in_force
from tests.crosscheck.conftest import scan, upload
from tests.factories import VILLAGE_2, World, bank_card_number, id_number

K = ReferenceList.Kind


def test_inspector_works_on_their_county(world: World) -> None:
    assert crosscheck_counties(world.user("inspector_a")) == ["620902"]
    assert county_for(world.user("inspector_a"), None) == "620902"


def test_others_are_refused(world: World) -> None:
    for username in ("cadre_v1", "reviewer_t1", "approver_a", "finance_a"):
        with pytest.raises(Forbidden) as refused:
            crosscheck_counties(world.user(username))
        assert refused.value.code == Code.ROLE


def test_administrator_names_the_county(world: World) -> None:
    admin = get_user_model().objects.create_superuser("root_cc", "", None)
    assert crosscheck_counties(admin) is None
    assert county_for(admin, "620903") == "620903"
    with pytest.raises(NotFound):
        county_for(admin, None)
    with pytest.raises(NotFound):
        county_for(admin, "999999")


def test_inspector_cannot_name_another_county(world: World) -> None:
    with pytest.raises(NotFound) as refused:
        county_for(world.user("inspector_a"), "620903")
    assert refused.value.code == Code.NOT_FOUND


def test_list_in_force_is_the_newest_by_date_then_upload(world: World) -> None:
    inspector = world.user("inspector_a")
    newer = upload(inspector, K.VEHICLE, [[id_number(), "王", "甘F1", "1"]], as_of=date(2026, 6, 1))
    upload(inspector, K.VEHICLE, [[id_number(), "李", "甘F2", "1"]], as_of=date(2026, 1, 1))
    assert lists_in_force("620902")[K.VEHICLE] == newer
    same_day = upload(
        inspector, K.VEHICLE, [[id_number(), "赵", "甘F3", "1"]], as_of=date(2026, 6, 1)
    )
    assert lists_in_force("620902")[K.VEHICLE] == same_day
    assert lists_in_force("620903") == {}


def test_leads_filtered_by_area_prefix(world: World) -> None:
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    scan()
    inspector = world.user("inspector_a")
    rows = leads_filtered(inspector, filters={"area": VILLAGE_2, "rule": "shared_card"})
    assert [lead.area_code for lead in rows] == [VILLAGE_2]
    assert leads_filtered(world.user("inspector_b"), filters={}).count() == 0
