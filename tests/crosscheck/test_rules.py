"""Each rule finds what it should, and not its near misses (issue 15: precision matters as
much as recall). The data are built through the services; the lists are real CSV files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from applications.models import Application
from applications.services import household_update
from approvals.services.card_checks import card_check_record
from common import clock
from crosscheck.models import Lead, ReferenceList
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create
from tests.crosscheck.conftest import leads, scan, upload
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    World,
    bank_card_number,
    declare_kin,
    id_number,
    return_file,
    seed_program,
    upload_signed_agreement,
)

K = ReferenceList.Kind
A_YEAR_AGO = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def paid_now(world: World, app: Application) -> None:
    """Pay an approved application now (its signed agreement first)."""
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    world.pay([app])


def member(relation: str = "child") -> tuple[str, dict[str, str]]:
    number = id_number()
    return number, {"name": "王小明", "id_number": number, "relation": relation}


def test_public_servant_member_on_the_list_is_a_lead(world: World) -> None:
    number, child = member()
    household = world.household(members=[child])
    world.household()  # nobody of it on the list
    upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [[number, "王小明", "县教育局"]])
    scan()
    (lead,) = leads("public_servant")
    assert lead.household_id == household.pk
    assert lead.application_id is None
    assert lead.facts["rows"][0]["detail"] == "县教育局"
    assert lead.person_masked.startswith("王*明 ")
    assert number not in lead.person_masked and number[-4:] in lead.person_masked


def test_vehicle_under_the_threshold_is_not_a_lead(world: World) -> None:
    rich, child = member()
    poor, other = member()
    over = world.household(members=[child])
    world.household(members=[other])
    upload(
        world.user("inspector_a"),
        K.VEHICLE,
        [[rich, "王小明", "甘F12345", "45000"], [poor, "王小明", "甘F54321", "29999.99"]],
    )
    scan()
    assert [lead.household_id for lead in leads("vehicle")] == [over.pk]


def test_vehicle_threshold_is_inclusive(world: World) -> None:
    number, child = member()
    world.household(members=[child])
    upload(world.user("inspector_a"), K.VEHICLE, [[number, "王小明", "甘F1", "30000"]])
    scan()
    assert len(leads("vehicle")) == 1


def test_property_of_a_residential_type_is_not_a_lead(world: World) -> None:
    shop, a = member()
    home, b = member()
    found = world.household(members=[a])
    world.household(members=[b])
    upload(
        world.user("inspector_a"),
        K.PROPERTY,
        [[shop, "王小明", "肃州区南街12号", "商铺"], [home, "王小明", "四坝村", "自建房"]],
    )
    scan()
    assert [lead.household_id for lead in leads("property")] == [found.pk]


def test_deregistered_business_is_not_a_lead(world: World) -> None:
    active, a = member()
    closed, b = member()
    revoked, c = member()
    found = world.household(members=[a])
    world.household(members=[b])
    world.household(members=[c])
    upload(
        world.user("inspector_a"),
        K.BUSINESS,
        [
            [active, "王小明", "小明商贸有限公司", "存续"],
            [closed, "王小明", "某某店", "注销"],
            [revoked, "王小明", "某某厂", "吊销"],
        ],
    )
    scan()
    assert [lead.household_id for lead in leads("business")] == [found.pk]


def test_application_after_the_heads_death_is_a_lead(world: World) -> None:
    head = id_number()
    household = world.household(head_id_number=head, head_name="李建国")
    app = world.application("submitted", household=household)
    upload(world.user("inspector_a"), K.DECEASED, [[head, "李建国", "2025-06-01"]])
    scan()
    (lead,) = leads("deceased")
    assert (lead.household_id, lead.application_id) == (household.pk, app.pk)
    assert lead.facts["date"] == "2025-06-01"
    assert lead.facts["applied_after"] is True


def test_death_after_the_payment_is_not_a_lead(world: World) -> None:
    head = id_number()
    household = world.household(head_id_number=head, head_name="李建国")
    with clock.frozen_at(A_YEAR_AGO):
        world.application("disbursed", household=household)
    upload(world.user("inspector_a"), K.DECEASED, [[head, "李建国", "2025-06-01"]])
    scan()
    assert leads("deceased") == []


def test_payment_after_the_heads_death_is_a_lead(world: World) -> None:
    head = id_number()
    household = world.household(head_id_number=head, head_name="李建国")
    with clock.frozen_at(A_YEAR_AGO):
        app = world.application("approved", household=household)
    paid_now(world, app)  # after the death
    upload(world.user("inspector_a"), K.DECEASED, [[head, "李建国", "2025-06-01"]])
    scan()
    (lead,) = leads("deceased")
    assert lead.application_id == app.pk
    assert lead.facts["applied_after"] is False
    assert lead.facts["paid_after"] == [clock.today().isoformat()]


def test_member_who_died_before_the_application_is_a_lead(world: World) -> None:
    number, child = member()
    household = world.household(members=[child])
    app = world.application("submitted", household=household)
    upload(world.user("inspector_a"), K.DECEASED, [[number, "王小明", "2025-06-01"]])
    scan()
    assert [(lead.application_id, lead.facts["relation"]) for lead in leads("deceased")] == [
        (app.pk, "child")
    ]


def test_move_after_the_application_is_not_a_lead(world: World) -> None:
    early, a = member()
    late, b = member()
    found = world.household(members=[a])
    missed = world.household(members=[b])
    app = world.application("submitted", household=found)
    with clock.frozen_at(A_YEAR_AGO):
        world.application("submitted", household=missed)
    upload(
        world.user("inspector_a"),
        K.MOVED_OUT,
        [[early, "王小明", "2025-01-10"], [late, "王小明", "2025-09-10"]],
    )
    scan()
    assert [lead.application_id for lead in leads("moved_out")] == [app.pk]


def test_shared_card_names_both_households(world: World) -> None:
    card = bank_card_number()
    first = world.household(bank_card=card)
    second = world.household(VILLAGE_2, bank_card=card)
    world.household()  # a card of its own
    scan()
    found = leads("shared_card")
    assert sorted(lead.household_id or 0 for lead in found) == sorted([first.pk, second.pk])
    assert found[0].facts["households"] == 2


def test_phone_shared_under_the_threshold_is_not_a_lead(world: World) -> None:
    three = [world.household(phone="13900001111") for _ in range(3)]
    two = [world.household(phone="13900002222") for _ in range(2)]
    scan()
    phones = {lead.household_id for lead in leads("shared_phone")}
    assert {h.pk for h in three} <= phones
    assert not {h.pk for h in two} & phones


def test_kin_declared_after_the_step_is_a_lead(world: World) -> None:
    relative = id_number()
    household = world.household(head_id_number=relative)
    app = world.application("approved", household=household)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation="spouse", id_number=relative)
    scan()
    (lead,) = leads("kin_handled")
    assert (lead.application_id, lead.facts["official"]) == (app.pk, "reviewer_t1")
    assert [s["step"] for s in lead.facts["steps"]] == ["township_approve"]


def test_kin_of_an_official_who_never_handled_it_is_not_a_lead(world: World) -> None:
    relative = id_number()
    household = world.household(head_id_number=relative)
    world.application("approved", household=household)
    declare_kin(official=world.user("reviewer_t2"), relation="spouse", id_number=relative)
    scan()
    assert leads("kin_handled") == []


def test_card_changed_just_before_payment_is_a_lead(world: World) -> None:
    household = world.household()
    app = world.application("approved", household=household)
    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, bank_card=bank_card_number()
    )
    card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="已核实。")
    paid_now(world, app)
    scan()
    (lead,) = leads("card_changed_before_payment")
    assert lead.application_id == app.pk
    assert lead.facts["days"] == 0


def test_card_changed_long_before_payment_is_not_a_lead(world: World) -> None:
    household = world.household()
    with clock.frozen_at(A_YEAR_AGO):
        household_update(
            actor=world.user("cadre_v1"), household_id=household.pk, bank_card=bank_card_number()
        )
    world.application("disbursed", household=household)
    scan()
    assert leads("card_changed_before_payment") == []


def test_bank_paying_less_than_sent_is_a_lead(world: World) -> None:
    short = world.application("approved")
    full = world.application("approved")
    maker, approver = world.user("finance_a"), world.user("approver_a")
    for app in (short, full):
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    round_ = payment_round_create(
        actor=maker,
        program_id=short.program_id,
        area_code=short.area_code[:6].ljust(12, "0"),
        application_ids=[short.pk, full.pk],
    )
    payment_round_approve(actor=approver, round_id=round_.pk)
    bank_file_export(actor=maker, round_id=round_.pk)
    round_.refresh_from_db()
    answers = {
        line.reference: (
            "0000",
            "成功",
            Decimal("3500.00") if line.application_id == short.pk else None,
        )
        for line in round_.lines.all()
    }
    bank_return_import(actor=maker, round_id=round_.pk, data=return_file(round_, answers))
    scan()
    (lead,) = leads("paid_amount_mismatch")
    assert lead.application_id == short.pk
    assert lead.facts["difference"] == "500.00"


def test_same_item_in_two_programs_in_one_year_is_a_lead(world: World) -> None:
    second = seed_program(county_code="620902000000", code="fupin-second")
    household = world.household()
    world.application("approved", household=household)
    app = world.application("approved", household=household, program=second)
    scan()
    found = leads("duplicate_benefit")
    assert sorted(lead.facts["item"] for lead in found) == sorted(["圈舍", "羊"])
    assert all(lead.application_id == app.pk for lead in found)
    assert {a["program"] for a in found[0].facts["applications"]} == {
        world.program.name,
        second.name,
    }


def test_same_item_in_two_years_is_not_a_lead(world: World) -> None:
    second = seed_program(county_code="620902000000", code="fupin-second")
    household = world.household()
    with clock.frozen_at(A_YEAR_AGO):
        world.application("approved", household=household)
    world.application("approved", household=household, program=second)
    scan()
    assert leads("duplicate_benefit") == []


def _appraised(world: World, n: int, days: list[int]) -> None:
    from approvals.services.filing import application_edit

    for i in range(n):
        app = world.application("draft", appraised=False)
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            appraisal_date=clock.today() - timedelta(days=days[i % len(days)]),
            appraisal_attendees=41,
            appraisal_votes_for=39,
            appraisal_votes_against=2,
        )
        world.walk(app, "submitted")


def test_identical_appraisals_on_different_days_are_a_lead(world: World) -> None:
    _appraised(world, 10, [3, 10])
    scan()
    (lead,) = leads("appraisal_pattern")
    assert lead.area_code == VILLAGE_1
    assert (lead.facts["count"], lead.facts["dates"], lead.facts["attendees"]) == (10, 2, 41)


def test_nine_identical_appraisals_are_not_a_lead(world: World) -> None:
    _appraised(world, 9, [3, 10])
    scan()
    assert leads("appraisal_pattern") == []


def test_identical_appraisals_of_one_meeting_are_not_a_lead(world: World) -> None:
    _appraised(world, 10, [3])
    scan()
    assert leads("appraisal_pattern") == []


def test_scan_is_repeatable(world: World) -> None:
    number, child = member()
    world.household(members=[child])
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [[number, "王小明", "县财政局"]])
    first = scan()
    before = {(lead.key, lead.fingerprint) for lead in Lead.objects.all()}
    second = scan()
    assert {(lead.key, lead.fingerprint) for lead in Lead.objects.all()} == before
    assert second.leads_new == 0 and second.leads_found == first.leads_found
    assert set(Lead.objects.filter(sightings__scan=second).values_list("key", flat=True)) == {
        key for key, _f in before
    }
    assert all(lead.first_seen_scan_id == first.pk for lead in Lead.objects.all())
    assert all(lead.last_seen_scan_id == second.pk for lead in Lead.objects.all())


def test_other_county_is_not_scanned(world: World) -> None:
    card = bank_card_number()
    world.household("620903100200", bank_card=card)
    world.household("620903100200", bank_card=card)
    scan()
    assert leads("shared_card") == []


def test_official_with_two_relatives_in_one_household_is_one_lead_naming_both(
    world: World,
) -> None:
    head, child = id_number(), id_number()
    household = world.household(
        head_id_number=head, members=[{"name": "王小明", "id_number": child, "relation": "child"}]
    )
    app = world.application("approved", household=household)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation="sibling", id_number=head, name="王大")
    declare_kin(official=reviewer, relation="child", id_number=child, name="王小明")
    scan()
    (lead,) = leads("kin_handled")
    assert lead.application_id == app.pk
    assert sorted(r["relation"] for r in lead.facts["relatives"]) == ["child", "sibling"]
    fingerprint = lead.fingerprint
    scan()
    lead.refresh_from_db()
    assert lead.fingerprint == fingerprint


def test_business_status_written_with_its_synonyms_is_active(world: World) -> None:
    number, child = member()
    found = world.household(members=[child])
    upload(
        world.user("inspector_a"),
        K.BUSINESS,
        [[number, "王小明", "小明商贸", "存续（在营、开业、在册）"]],
    )
    scan()
    assert [lead.household_id for lead in leads("business")] == [found.pk]


def test_shared_phone_key_holds_no_phone_number(world: World) -> None:
    for _ in range(3):
        world.household(phone="13900001111")
    scan()
    assert all("13900001111" not in lead.key for lead in leads("shared_phone"))
