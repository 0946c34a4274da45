"""The page that corrects a household (issue 13, item 12): phone, card, type, causes and
members, through ``household_update``: one audited change, and nothing changed on any
problem."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from applications.models import Household, Person
from audit.models import AuditEntry
from tests.factories import VILLAGE_1, VILLAGE_2, World, bank_card_number, id_number

pytestmark = pytest.mark.django_db


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def household_with_a_child(world: World) -> Household:
    return world.household(
        VILLAGE_1,
        members=[{"name": "王小明", "id_number": id_number(), "relation": Person.Relation.CHILD}],
    )


def form(household: Household, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "phone": household.phone,
        "bank_card": "",
        "bank_card_holder": household.head_name,
        "household_type": household.household_type,
        "poverty_causes": household.poverty_causes,
        "reason": "",
        "members-TOTAL_FORMS": "2",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "30",
    }
    data.update(extra)
    return data


def updates(household: Household) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="household.update", object_id=str(household.pk)))


def test_the_household_page_links_the_correction_and_it_shows_the_values(world: World) -> None:
    household = household_with_a_child(world)
    client = client_for(world, "cadre_v1")

    detail = client.get(f"/cadre/households/{household.pk}/").content.decode()
    page = client.get(f"/cadre/households/{household.pk}/edit/").content.decode()

    assert f'href="/cadre/households/{household.pk}/edit/"' in detail
    assert household.phone not in page and household.phone[-4:] in page
    child = household.members.get(relation=Person.Relation.CHILD)
    head = household.members.get(relation=Person.Relation.HEAD)
    assert f'name="members_remove" value="{child.pk}"' in page
    assert f'name="members_remove" value="{head.pk}"' not in page


def test_a_correction_changes_phone_card_and_members_in_one_audited_entry(world: World) -> None:
    household = household_with_a_child(world)
    child = household.members.get(relation=Person.Relation.CHILD)
    newborn = id_number()
    card = bank_card_number()

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(
            household,
            phone="13912345678",
            bank_card=card,
            members_remove=[str(child.pk)],
            reason="王小明户口迁出（婚嫁）",
            confirmed="1",
            **{
                "members-0-name": "王小红",
                "members-0-id_number": newborn,
                "members-0-relation": "grandchild",
            },
        ),
    )

    assert response.status_code == 302
    household.refresh_from_db()
    assert household.phone == "13912345678"
    assert household.bank_card_masked.endswith(card[-4:])
    assert household.bank_card_changed_at is not None
    assert sorted(household.members.values_list("name", flat=True)) == sorted(
        [household.head_name, "王小红"]
    )
    (entry,) = updates(household)
    assert entry.reason == "王小明户口迁出（婚嫁）"
    assert {"phone", "members", "bank_card"} <= set(entry.changes)
    assert newborn not in str(entry.changes) and card not in str(entry.changes)


def test_removing_a_member_without_a_reason_changes_nothing(world: World) -> None:
    household = household_with_a_child(world)
    child = household.members.get(relation=Person.Relation.CHILD)

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(household, phone="13912345678", members_remove=[str(child.pk)]),
    )

    assert response.status_code == 400
    assert "请说明移除成员的原因" in response.content.decode()
    household.refresh_from_db()
    assert household.phone != "13912345678"
    assert household.members.count() == 2
    assert updates(household) == []


def test_the_head_cannot_be_removed(world: World) -> None:
    household = household_with_a_child(world)
    head = household.members.get(relation=Person.Relation.HEAD)

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(household, members_remove=[str(head.pk)], reason="误登", confirmed="1"),
    )

    assert response.status_code == 400
    assert household.members.filter(pk=head.pk).exists()


def test_a_member_already_in_another_household_is_refused_and_nothing_changes(
    world: World,
) -> None:
    household = household_with_a_child(world)
    other = world.household(VILLAGE_2)
    taken = other.members.get(relation=Person.Relation.HEAD)
    from applications import idnumbers

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(
            household,
            phone="13912345678",
            **{
                "members-0-name": "某某",
                "members-0-id_number": idnumbers.decrypt(taken.id_cipher),
                "members-0-relation": "spouse",
            },
        ),
    )

    assert response.status_code == 400
    household.refresh_from_db()
    assert household.phone != "13912345678"
    assert household.members.count() == 2
    assert updates(household) == []


def test_every_field_problem_is_reported_at_once(world: World) -> None:
    household = household_with_a_child(world)

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(
            household,
            phone="12",
            bank_card="123",
            poverty_causes=[],
            **{"members-0-name": "某某", "members-0-id_number": "123", "members-0-relation": ""},
        ),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert html.count('class="errorlist') >= 3
    assert updates(household) == []


def test_a_household_out_of_the_cadres_village_is_not_found(world: World) -> None:
    other = world.household(VILLAGE_2)

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{other.pk}/edit/", form(other, phone="13912345678")
    )

    assert response.status_code == 404
    other.refresh_from_db()
    assert other.phone != "13912345678"


def test_removing_a_member_asks_first_and_changes_nothing_until_confirmed(world: World) -> None:
    household = household_with_a_child(world)
    child = household.members.get(relation=Person.Relation.CHILD)
    client = client_for(world, "cadre_v1")
    data = form(household, members_remove=[str(child.pk)], reason="户口迁出")

    asked = client.post(f"/cadre/households/{household.pk}/edit/", data)

    assert asked.status_code == 200 and 'id="confirm-page"' in asked.content.decode()
    assert household.members.filter(pk=child.pk).exists()
    client.post(f"/cadre/households/{household.pk}/edit/", {**data, "confirmed": "1"})
    assert not household.members.filter(pk=child.pk).exists()


def test_the_form_shows_the_phone_masked_and_an_empty_field_keeps_it(world: World) -> None:
    household = household_with_a_child(world)
    client = client_for(world, "cadre_v1")

    page = client.get(f"/cadre/households/{household.pk}/edit/").content.decode()
    client.post(
        f"/cadre/households/{household.pk}/edit/",
        form(household, phone="", household_type="subsistence"),
    )

    assert household.phone not in page
    household.refresh_from_db()
    assert household.phone == "13809370000" and household.household_type == "subsistence"


def test_a_form_opened_earlier_does_not_put_back_a_colleagues_change(world: World) -> None:
    household = household_with_a_child(world)
    client = client_for(world, "cadre_v1")
    stale = form(household, phone="")  # opened before the colleague saved
    client.post(f"/cadre/households/{household.pk}/edit/", form(household, phone="13912345678"))

    client.post(
        f"/cadre/households/{household.pk}/edit/", {**stale, "household_type": "subsistence"}
    )

    household.refresh_from_db()
    assert (household.phone, household.household_type) == ("13912345678", "subsistence")


def test_a_member_is_corrected_by_removing_and_adding_the_same_person(world: World) -> None:
    from applications import idnumbers

    household = household_with_a_child(world)
    child = household.members.get(relation=Person.Relation.CHILD)

    response = client_for(world, "cadre_v1").post(
        f"/cadre/households/{household.pk}/edit/",
        form(
            household,
            members_remove=[str(child.pk)],
            reason="关系登记错误",
            confirmed="1",
            **{
                "members-0-name": "王小明",
                "members-0-id_number": idnumbers.decrypt(child.id_cipher),
                "members-0-relation": "grandchild",
            },
        ),
    )

    assert response.status_code == 302
    assert household.members.get(name="王小明").relation == "grandchild"


def test_adding_a_declared_relative_flags_the_open_application(world: World) -> None:
    from applications.models import KinFlag
    from tests.factories import S, declare_kin

    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    relative = id_number()
    declare_kin(official=world.user("reviewer_t1"), relation="spouse", id_number=relative)

    client_for(world, "cadre_v1").post(
        f"/cadre/households/{app.household_id}/edit/",
        form(
            app.household,
            **{
                "members-0-name": "王亲属",
                "members-0-id_number": relative,
                "members-0-relation": "spouse",
            },
        ),
    )

    assert KinFlag.objects.filter(application=app, official=world.user("reviewer_t1")).exists()
