"""Writes to the registry: households (numbers stored encrypted, shown masked, revealed only
with the grant and on the record; the bank card in the head's name), programs, role grants,
officials' kin declarations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from applications.models import Household, KinDeclaration, Person, Program
from applications.permissions import forget_grants
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import (
    applications_visible_to,
    has_role_in,
    households_visible_to,
    kin_declarations_visible_to,
)
from applications.services import (
    area_create,
    household_create,
    household_update,
    kin_declare,
    person_reveal_id,
    program_create,
    role_grant,
)
from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, NotFound
from tests.factories import (
    COUNTY,
    TOWNSHIP_1,
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    World,
    bank_card_number,
    declare_kin,
    id_number,
)

pytestmark = pytest.mark.django_db


def _rows_as_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - the table name is a constant
        return repr(cursor.fetchall())


# --- ID numbers at rest ---------------------------------------------------------------------


def test_household_create_stores_id_numbers_encrypted(world: World) -> None:
    head, spouse = id_number(), id_number()

    world.household(
        VILLAGE_1,
        head_id_number=head,
        members=[{"name": "李秀英", "id_number": spouse, "relation": "spouse"}],
    )

    stored = _rows_as_text("applications_person") + _rows_as_text("applications_household")
    assert head not in stored
    assert spouse not in stored
    assert head[6:14] not in stored  # not even the date of birth


def test_household_create_stores_bank_card_encrypted(world: World) -> None:
    card = bank_card_number()

    world.household(VILLAGE_1, bank_card=card)

    assert card not in _rows_as_text("applications_household")


def test_household_create_keeps_numbers_out_of_audit_trail(world: World) -> None:
    head, card = id_number(), bank_card_number()

    world.household(VILLAGE_1, head_id_number=head, bank_card=card)

    ledger = _rows_as_text("audit_auditentry")
    assert head not in ledger
    assert card not in ledger


def test_household_create_masks_id_number(world: World) -> None:
    head = id_number()

    household = world.household(VILLAGE_1, head_id_number=head)

    assert household.head_id_masked == f"{head[:6]}********{head[-4:]}"
    assert household.members.get().id_masked == household.head_id_masked


def test_household_create_refuses_duplicate_id(world: World) -> None:
    number = id_number()
    world.household(VILLAGE_1, head_id_number=number)
    before = Household.objects.count()

    with pytest.raises(InvalidInput) as error:
        world.household(VILLAGE_3, head_id_number=number)
    assert error.value.code == Code.INVALID

    assert "head_id_number" in error.value.as_dict()
    assert Household.objects.count() == before


def test_household_create_refuses_same_id_twice_in_household(world: World) -> None:
    number = id_number()

    with pytest.raises(InvalidInput) as refused:
        world.household(
            VILLAGE_1,
            head_id_number=number,
            members=[{"name": "王小明", "id_number": number, "relation": "child"}],
        )
    assert refused.value.code == Code.INVALID
    assert "members" in refused.value.as_dict()

    assert not Person.objects.filter(name="王小明").exists()


def test_household_create_refuses_member_as_second_head(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        world.household(
            VILLAGE_1, members=[{"name": "王小明", "id_number": id_number(), "relation": "head"}]
        )
    assert refused.value.code == Code.INVALID


def test_household_create_refuses_township_code(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        household_create(
            actor=world.user("cadre_v1"),
            area_code=TOWNSHIP_1,
            head_name="王建国",
            head_id_number=id_number(),
            bank_card=bank_card_number(),
            phone="13809370000",
            household_type=Household.Kind.GENERAL,
            poverty_causes=[Household.Cause.ILLNESS],
        )
    assert refused.value.code == Code.INVALID
    assert "area" in refused.value.as_dict()


def test_household_create_refused_for_cadre_of_other_village(world: World) -> None:
    with pytest.raises(NotFound) as refused:
        household_create(
            actor=world.user("cadre_v2"),
            area_code=VILLAGE_1,
            head_name="王建国",
            head_id_number=id_number(),
            bank_card=bank_card_number(),
            phone="13809370000",
            household_type=Household.Kind.GENERAL,
            poverty_causes=[Household.Cause.ILLNESS],
        )
    assert refused.value.code == Code.NOT_FOUND


# --- revealing a full number -------------------------------------------------------------------


def test_person_reveal_refused_without_grant(world: World) -> None:
    person = world.household(VILLAGE_1).members.get()

    with pytest.raises(Forbidden) as refused:
        person_reveal_id(actor=world.user("cadre_v1"), person_id=person.pk)
    assert refused.value.code == Code.ROLE


def test_person_reveal_refusal_audited(world: World) -> None:
    person = world.household(VILLAGE_1).members.get()
    cadre = world.user("cadre_v1")

    with pytest.raises(Forbidden) as refused:
        person_reveal_id(actor=cadre, person_id=person.pk)
    assert refused.value.code == Code.ROLE

    entry = AuditEntry.objects.get(actor=cadre, action="person.reveal_id")
    assert entry.outcome == AuditEntry.Outcome.REFUSED


def test_person_reveal_with_grant_returns_number(world: World) -> None:
    number = id_number()
    person = world.household(VILLAGE_1, head_id_number=number).members.get()
    cadre, _ = role_grant(
        actor=None, username="cadre_v1", role=REVEAL_PERMISSION, area_code=VILLAGE_1
    )

    assert person_reveal_id(actor=cadre, person_id=person.pk) == number


def test_person_reveal_with_grant_audited(world: World) -> None:
    person = world.household(VILLAGE_1).members.get()
    cadre, _ = role_grant(
        actor=None, username="cadre_v1", role=REVEAL_PERMISSION, area_code=VILLAGE_1
    )

    person_reveal_id(actor=cadre, person_id=person.pk)

    entry = AuditEntry.objects.get(actor=cadre, action="person.reveal_id")
    assert (entry.outcome, entry.object_id) == (AuditEntry.Outcome.DONE, str(person.pk))
    assert entry.area_code == VILLAGE_1


def test_person_reveal_grant_limited_to_its_area(world: World) -> None:
    person = world.household(VILLAGE_1).members.get()
    reviewer, _ = role_grant(
        actor=None, username="reviewer_t2", role=REVEAL_PERMISSION, area_code=VILLAGE_3
    )

    with pytest.raises(NotFound) as refused:
        person_reveal_id(actor=reviewer, person_id=person.pk)
    assert refused.value.code == Code.NOT_FOUND


def test_person_reveal_grant_alone_shows_nothing(world: World) -> None:
    world.household(VILLAGE_1)
    user, _ = role_grant(actor=None, username="clerk", role=REVEAL_PERMISSION, area_code=VILLAGE_1)

    assert not households_visible_to(user).exists()


def test_person_reveal_through_api_with_grant(world: World, api: Callable[..., APIClient]) -> None:
    number = id_number()
    person = world.household(VILLAGE_1, head_id_number=number).members.get()
    role_grant(actor=None, username="inspector_a", role=REVEAL_PERMISSION, area_code=COUNTY)

    response = api("inspector_a").post(f"/api/v1/persons/{person.pk}/reveal/")

    assert response.json() == {"id_number": number}


# --- roles and scope ---------------------------------------------------------------------------


def test_role_grant_creates_user_with_role(world: World) -> None:
    user, granted = role_grant(
        actor=None, username="new_cadre", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2
    )

    assert granted
    assert has_role_in(user, Role.VILLAGE_CADRE, VILLAGE_2)
    assert not has_role_in(user, Role.VILLAGE_CADRE, VILLAGE_1)
    assert not user.has_usable_password()


def test_role_grant_twice_grants_once(world: World) -> None:
    role_grant(actor=None, username="new_cadre", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2)
    before = AuditEntry.objects.count()

    _user, granted = role_grant(
        actor=None, username="new_cadre", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2
    )

    assert not granted
    assert AuditEntry.objects.count() == before


def test_role_grant_audited(world: World) -> None:
    user, _ = role_grant(
        actor=None, username="new_cadre", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2
    )

    entry = AuditEntry.objects.get(action="role.grant", object_id=str(user.pk))
    assert entry.changes["role"] == [None, "village_cadre"]
    assert entry.chain == VILLAGE_2[:6]


def test_role_grant_refuses_wrong_level(world: World) -> None:
    with pytest.raises(InvalidInput) as error:
        role_grant(actor=None, username="x", role=Role.COUNTY_APPROVER, area_code=TOWNSHIP_1)
    assert error.value.code == Code.INVALID

    assert "area" in error.value.as_dict()


def test_township_role_covers_its_villages(world: World) -> None:
    reviewer = world.user("reviewer_t1")

    assert has_role_in(reviewer, Role.TOWNSHIP_REVIEWER, VILLAGE_1)
    assert has_role_in(reviewer, Role.TOWNSHIP_REVIEWER, VILLAGE_2)
    assert not has_role_in(reviewer, Role.TOWNSHIP_REVIEWER, VILLAGE_3)


def test_second_grant_widens_scope(world: World) -> None:
    cadre = world.user("cadre_v1")
    world.application("draft", area_code=VILLAGE_2)
    assert not applications_visible_to(cadre).exists()

    role_grant(actor=None, username="cadre_v1", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2)
    forget_grants(cadre)

    assert applications_visible_to(cadre).count() == 1


def test_superuser_sees_every_county(world: World) -> None:
    from django.contrib.auth import get_user_model

    world.household(VILLAGE_1)
    world.household("620903100200")
    admin = get_user_model().objects.create_superuser("admin", password="pw-admin")

    assert households_visible_to(admin).count() == Household.objects.count() == 2


# --- areas and programs ------------------------------------------------------------------------


def test_area_create_idempotent(world: World) -> None:
    before = AuditEntry.objects.count()

    area = area_create(code=VILLAGE_1, name="另一个名字")

    assert area.name == "四坝村"
    assert AuditEntry.objects.count() == before


def test_area_create_level_from_code(world: World) -> None:
    area = area_create(code="620902102000", name="西洞镇")

    assert area.level == "township"


def test_program_create_loan_over_limit_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as error:
        program_create(
            actor=None,
            code="xiaoe-xindai",
            name="扶贫小额信贷",
            kind=Program.Kind.LOAN,
            county_code=COUNTY,
            budget=Decimal("1000000"),
            effective_from=date(2017, 1, 1),
            policy_reference="银监发〔2017〕42号",
            household_cap=Decimal("50000"),
            loan_max_amount=Decimal("60000"),
            loan_max_months=36,
        )
    assert error.value.code == Code.INVALID

    assert "loan_max_amount" in error.value.as_dict()
    assert not Program.objects.filter(code="xiaoe-xindai").exists()


def test_program_create_loan_over_term_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        program_create(
            actor=None,
            code="xiaoe-xindai",
            name="扶贫小额信贷",
            kind=Program.Kind.LOAN,
            county_code=COUNTY,
            budget=Decimal("1000000"),
            effective_from=date(2017, 1, 1),
            policy_reference="银监发〔2017〕42号",
            household_cap=Decimal("50000"),
            loan_max_amount=Decimal("50000"),
            loan_max_months=48,
        )
    assert refused.value.code == Code.INVALID
    assert "loan_max_months" in refused.value.as_dict()

    assert not Program.objects.filter(code="xiaoe-xindai").exists()


def test_program_create_records_policy_reference(world: World) -> None:
    version = world.program.versions.get()

    assert version.policy_reference
    assert version.household_cap == Decimal("5000.00")
    assert {i.code: i.unit_amount for i in version.items.all()} == {
        "pen": Decimal("3000.00"),
        "sheep": Decimal("200.00"),
    }


def test_application_records_program_version(world: World) -> None:
    app = world.application("draft")

    assert app.program_version == world.program.versions.get()


# --- the bank card in the head's name (DOMAIN rule 5) ---------------------------------------


def _registry_counts() -> tuple[int, int, int]:
    return Household.objects.count(), Person.objects.count(), AuditEntry.objects.count()


def test_household_create_refuses_a_card_in_another_name(world: World) -> None:
    before = _registry_counts()

    with pytest.raises(InvalidInput) as refused:
        world.household(VILLAGE_1, head_name="王建国", bank_card_holder="王建军")
    assert refused.value.code == Code.INVALID

    assert list(refused.value.errors) == ["bank_card_holder"]
    assert "王建军" in refused.value.errors["bank_card_holder"][0]
    assert _registry_counts() == before


def test_household_create_records_the_card_holder(world: World) -> None:
    household = world.household(
        VILLAGE_1, head_name="阿依古丽·买买提", bank_card_holder="阿依古丽•买买提 "
    )

    household.refresh_from_db()
    assert household.bank_card_holder == "阿依古丽•买买提"
    entry = AuditEntry.objects.get(action="household.create", object_id=str(household.pk))
    assert entry.changes["bank_card_holder"] == [None, "阿依古丽•买买提"]


def test_household_create_refuses_an_empty_card_holder(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        world.household(VILLAGE_1, bank_card_holder="  ")
    assert refused.value.code == Code.INVALID
    assert "bank_card_holder" in refused.value.errors


@pytest.mark.parametrize("holder", ["李四", " "], ids=["another-name", "blank"])
def test_household_update_refuses_a_new_card_in_another_name_and_changes_nothing(
    world: World, holder: str
) -> None:
    household = world.household(VILLAGE_1, head_name="王建国")
    before = Household.objects.get(pk=household.pk)
    entries = AuditEntry.objects.count()

    with pytest.raises(InvalidInput) as refused:
        household_update(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            bank_card=bank_card_number(),
            bank_card_holder=holder,
        )
    assert refused.value.code == Code.INVALID

    assert list(refused.value.errors) == ["bank_card_holder"]
    after = Household.objects.get(pk=household.pk)
    assert after.bank_card_hash == before.bank_card_hash
    assert after.bank_card_holder == "王建国"
    assert after.bank_card_changed_at is None
    assert AuditEntry.objects.count() == entries


def test_household_create_without_a_card_holder_records_the_heads_name(world: World) -> None:
    household = world.household(VILLAGE_1, head_name=" 王建国 ")

    household.refresh_from_db()
    assert household.bank_card_holder == "王建国"


def test_household_update_new_card_without_a_holder_is_in_the_heads_name(world: World) -> None:
    household = world.household(VILLAGE_1, head_name="马永福", bank_card_holder="马 永福")

    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, bank_card=bank_card_number()
    )

    household.refresh_from_db()
    assert household.bank_card_holder == "马永福"
    entry = AuditEntry.objects.get(action="household.update", object_id=str(household.pk))
    assert entry.changes["bank_card_holder"] == ["马 永福", "马永福"]


def test_household_update_new_card_starts_the_hold_clock(world: World) -> None:
    household = world.household(VILLAGE_1, head_name="王建国")

    household_update(
        actor=world.user("cadre_v1"),
        household_id=household.pk,
        bank_card=bank_card_number(),
        bank_card_holder="王建国",
    )

    household.refresh_from_db()
    assert household.bank_card_changed_at is not None


def test_household_update_same_card_again_is_no_change(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)

    household_update(actor=world.user("cadre_v1"), household_id=household.pk, bank_card=card)

    household.refresh_from_db()
    assert household.bank_card_changed_at is None
    assert not AuditEntry.objects.filter(
        action="household.update", object_id=str(household.pk)
    ).exists()


def test_shared_card_is_on_the_record(world: World) -> None:
    card = bank_card_number()
    world.household(VILLAGE_1, bank_card=card)
    assert not AuditEntry.objects.filter(action="household.shared_card").exists()

    second = world.household(VILLAGE_3, bank_card=card)

    entry = AuditEntry.objects.get(action="household.shared_card")
    assert entry.object_id == str(second.pk)
    assert entry.changes["other_households"] == [None, "1"]
    # The other household is not named: a count, the masked card and a prefix of its hash.
    assert set(entry.changes) == {"bank_card", "bank_card_hash", "other_households"}
    assert card not in str(entry.changes)


def test_shared_card_by_a_change_of_card_is_on_the_record(world: World) -> None:
    card = bank_card_number()
    world.household(VILLAGE_1, bank_card=card)
    other = world.household(VILLAGE_1)

    household_update(actor=world.user("cadre_v1"), household_id=other.pk, bank_card=card)

    assert AuditEntry.objects.filter(
        action="household.shared_card", object_id=str(other.pk)
    ).exists()


# --- kin declarations (亲属备案, DOMAIN rule 4) ---------------------------------------------------


def test_kin_declare_stores_the_number_encrypted_and_audits_it_masked(world: World) -> None:
    relative = id_number()
    cadre = world.user("cadre_v1")

    declaration = declare_kin(
        official=cadre, relation=KinDeclaration.Relation.SPOUSE, id_number=relative, name="李秀英"
    )

    assert relative not in _rows_as_text("applications_kindeclaration")
    assert declaration.id_masked == f"{relative[:6]}********{relative[-4:]}"
    entry = AuditEntry.objects.get(action="kin.declare", object_id=str(cadre.pk))
    assert entry.chain == COUNTY[:6]
    assert entry.actor_name == "cadre_v1"
    assert entry.changes["relation"] == [None, "spouse"]
    assert entry.changes["id"] == [None, declaration.id_masked]
    assert relative not in str(entry.changes)


def test_kin_declare_for_someone_else_refused_and_recorded(world: World) -> None:
    reviewer = world.user("reviewer_t1")

    with pytest.raises(Forbidden) as refused:
        kin_declare(
            actor=world.user("cadre_v1"),
            official_id=reviewer.pk,
            relation=KinDeclaration.Relation.SPOUSE,
            name="李秀英",
            id_number=id_number(),
        )
    assert refused.value.code == Code.NOT_SELF

    assert not KinDeclaration.objects.exists()
    assert AuditEntry.objects.filter(
        action="kin.declare", outcome=AuditEntry.Outcome.REFUSED, actor_name="cadre_v1"
    ).exists()


def test_kin_declare_by_an_admin_or_the_command_for_an_official(world: World) -> None:
    declaration = kin_declare(
        actor=None,
        official_id=world.user("reviewer_t1").pk,
        relation=KinDeclaration.Relation.PARENT,
        name="王父",
        id_number=id_number(),
    )

    assert declaration.official.get_username() == "reviewer_t1"
    assert declaration.created_by is None


def test_kin_declare_refuses_a_bad_number_and_stores_nothing(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        declare_kin(
            official=world.user("cadre_v1"),
            relation=KinDeclaration.Relation.SPOUSE,
            id_number="62090219700101123",
        )
    assert refused.value.code == Code.INVALID
    assert "id_number" in refused.value.errors
    assert not KinDeclaration.objects.exists()


def test_kin_declare_refuses_an_unknown_relation(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        declare_kin(official=world.user("cadre_v1"), relation="cousin", id_number=id_number())
    assert refused.value.code == Code.INVALID
    assert "relation" in refused.value.errors


def test_kin_declare_once_per_person(world: World) -> None:
    relative = id_number()
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)

    with pytest.raises(InvalidInput) as refused:
        declare_kin(official=cadre, relation=KinDeclaration.Relation.SIBLING, id_number=relative)
    assert refused.value.code == Code.INVALID
    assert "id_number" in refused.value.as_dict()
    assert KinDeclaration.objects.count() == 1


def test_kin_declare_own_number_once_and_nobody_elses(world: World) -> None:
    own = id_number()
    declare_kin(official=world.user("cadre_v1"), relation="self", id_number=own)

    with pytest.raises(InvalidInput) as refused:
        declare_kin(official=world.user("cadre_v1"), relation="self", id_number=id_number())
    assert refused.value.code == Code.INVALID
    assert "relation" in refused.value.as_dict()
    with pytest.raises(InvalidInput) as refused:
        declare_kin(official=world.user("cadre_v2"), relation="self", id_number=own)
    assert refused.value.code == Code.INVALID
    assert "id_number" in refused.value.as_dict()
    assert KinDeclaration.objects.count() == 1


def test_kin_declare_needs_an_official_with_a_role(world: World) -> None:
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("nobody", password="x-2016-pass")

    with pytest.raises(InvalidInput) as refused:
        declare_kin(official=nobody, relation="spouse", id_number=id_number())
    assert refused.value.code == Code.INVALID
    assert "official" in refused.value.as_dict()


def test_kin_declarations_are_read_by_the_official_and_their_inspectors(world: World) -> None:
    declaration = declare_kin(
        official=world.user("cadre_v1"), relation="spouse", id_number=id_number()
    )

    def sees(username: str) -> bool:
        return kin_declarations_visible_to(world.user(username)).filter(pk=declaration.pk).exists()

    assert sees("cadre_v1")
    assert sees("inspector_a")
    assert not sees("inspector_b")  # another county
    assert not sees("cadre_v2")
    assert not sees("reviewer_t1")
