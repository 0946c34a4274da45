"""Reads of the approvals records: the card facts a payment is decided on, the kin flags of a
list."""

from __future__ import annotations

import pytest

from applications.models import Application
from applications.services import household_update
from approvals.selectors import (
    applications_kin_flagged,
    applications_with_kin_flag,
    card_facts,
    card_facts_of,
)
from audit.models import AuditEntry
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_B,
    World,
    bank_card_number,
    declare_kin,
    id_number,
)

pytestmark = pytest.mark.django_db

S = Application.Status


# --- a bank card shared by households (DOMAIN rule 5) ------------------------------------------


def test_card_facts_shared_with_a_household_of_another_county(world: World) -> None:
    card = bank_card_number()
    app = world.application(S.DRAFT, household=world.household(VILLAGE_1, bank_card=card))
    plain = world.application(S.DRAFT)
    world.household(VILLAGE_B, bank_card=card)

    facts = card_facts_of([app, plain])

    assert (facts[app.pk].shared, facts[plain.pk].shared) == (True, False)


def test_card_facts_and_the_red_flag_on_record_agree(world: World) -> None:
    """The household service's red flag (on the record at registration or a change of
    card) and the payment's card facts read the same sharing."""
    card = bank_card_number()
    first = world.household(VILLAGE_1, bank_card=card)
    app = world.application(S.DRAFT, household=first)
    assert not card_facts(app).shared
    assert not AuditEntry.objects.filter(action="household.shared_card").exists()

    second = world.household(VILLAGE_2)
    household_update(actor=world.user("cadre_v2"), household_id=second.pk, bank_card=card)

    assert card_facts(app).shared
    assert AuditEntry.objects.filter(
        action="household.shared_card", object_id=str(second.pk)
    ).exists()


# --- kin flags (DOMAIN rule 4) -------------------------------------------------------------------


def test_kin_flag_of_a_list_and_of_a_page_agree(world: World) -> None:
    relative = id_number()
    flagged = world.application(
        S.DRAFT, household=world.household(VILLAGE_1, head_id_number=relative)
    )
    plain = world.application(S.DRAFT)
    declare_kin(official=world.user("reviewer_t1"), relation="sibling", id_number=relative)
    apps = Application.objects.filter(pk__in=[flagged.pk, plain.pk])

    annotated = dict(applications_with_kin_flag(apps).values_list("pk", "kin_flagged"))

    assert annotated == {flagged.pk: True, plain.pk: False}
    assert applications_kin_flagged([flagged.pk, plain.pk]) == {flagged.pk}
    assert applications_kin_flagged([]) == set()


# --- the public notice board -------------------------------------------------------------------


def test_a_notice_says_whether_an_objection_to_it_is_still_open(world: World) -> None:
    from approvals.selectors import notices_posted
    from approvals.services.objections import objection_raise, objection_resolve

    open_, dismissed, quiet = (world.application(S.POSTED, area_code=VILLAGE_1) for _ in range(3))
    elsewhere = world.application(S.POSTED, area_code=VILLAGE_2)
    objection_raise(actor=world.user("cadre_v1"), application_id=open_.pk, text="冒名顶替")
    raised = objection_raise(
        actor=world.user("cadre_v1"), application_id=dismissed.pk, text="不是本村人"
    )
    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=raised.pk, upheld=False, reason="核实无误"
    )
    objection_raise(actor=world.user("cadre_v2"), application_id=elsewhere.pk, text="冒名顶替")

    notices = {n.application_id: n.objected for n in notices_posted(VILLAGE_1)}

    assert notices == {open_.pk: True, dismissed.pk: False, quiet.pk: False}
