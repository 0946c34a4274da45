"""The registry API (areas, programs, households, persons): scope, bad input, languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from applications.idnumbers import id_check_digit
from applications.models import Household, KinDeclaration, Person
from approvals.models import Decision
from audit.models import AuditEntry
from tests.factories import (
    COUNTY,
    VILLAGE_1,
    VILLAGE_3,
    World,
    bank_card_number,
    declare_kin,
    id_number,
    with_wrong_check_digit,
)

Login = Callable[..., APIClient]

# Users outside village 1: another village of its township, another township, another county.
OUTSIDERS = [
    "cadre_v2",
    "cadre_v3",
    "reviewer_t2",
    "cadre_b",
    "reviewer_b",
    "approver_b",
    "finance_b",
    "inspector_b",
]
OTHER_COUNTY = [name for name in OUTSIDERS if name.endswith("_b")]
PROJECT_MO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _codes(response: Any) -> list[str]:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return [row["code"] for row in rows]


def _household_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "area": VILLAGE_1,
        "head_name": "王建国",
        "head_id_number": id_number(),
        "bank_card": bank_card_number(),
        "phone": "13809371234",
        "household_type": Household.Kind.GENERAL,
        "poverty_causes": [Household.Cause.ILLNESS, Household.Cause.CAPITAL],
        "members": [{"name": "李秀英", "id_number": id_number(), "relation": "spouse"}],
    }
    payload.update(overrides)
    payload.setdefault("bank_card_holder", payload["head_name"])
    return payload


def _counts() -> tuple[int, int, int, int]:
    return (
        Household.objects.count(),
        Person.objects.count(),
        AuditEntry.objects.count(),
        Decision.objects.count(),
    )


# --- authentication --------------------------------------------------------------------


@pytest.mark.django_db
def test_token_endpoint_refuses_wrong_password(world: World) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "cadre_v1", "password": "wrong"}, format="json"
    )

    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.django_db
def test_api_refuses_anonymous(world: World) -> None:
    response = APIClient().get("/api/v1/households/")

    assert response.status_code in (401, 403)


# --- scope: areas and programs ---------------------------------------------------------------


@pytest.mark.django_db
def test_areas_list_shows_own_area(world: World, api: Login) -> None:
    response = api("reviewer_t1").get("/api/v1/areas/")

    assert sorted(_codes(response)) == ["620902100000", "620902100200", "620902100201"]


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_areas_list_hides_other_area(world: World, api: Login, outsider: str) -> None:
    response = api(outsider).get("/api/v1/areas/")

    assert response.status_code == 200
    assert VILLAGE_1 not in _codes(response)


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_area_detail_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    response = api(outsider).get(f"/api/v1/areas/{VILLAGE_1}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OTHER_COUNTY)
def test_programs_list_hides_other_county(world: World, api: Login, outsider: str) -> None:
    response = api(outsider).get("/api/v1/programs/")

    ids = [row["id"] for row in response.json()["results"]]
    assert world.program.pk not in ids
    assert world.program_b.pk in ids


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OTHER_COUNTY)
def test_program_detail_other_county_not_found(world: World, api: Login, outsider: str) -> None:
    response = api(outsider).get(f"/api/v1/programs/{world.program.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_program_detail_shows_items_and_cap(world: World, api: Login) -> None:
    response = api("cadre_v1").get(f"/api/v1/programs/{world.program.pk}/")

    body = response.json()
    assert body["current"]["household_cap"] == "5000.00"
    assert body["current"]["posting_days"] == 7
    assert {(i["code"], i["unit_amount"]) for i in body["items"]} == {
        ("pen", "3000.00"),
        ("sheep", "200.00"),
    }


# --- scope: households and persons -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_households_list_out_of_scope_empty(world: World, api: Login, outsider: str) -> None:
    world.household(VILLAGE_1)

    response = api(outsider).get("/api/v1/households/")

    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_household_detail_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    household = world.household(VILLAGE_1)

    response = api(outsider).get(f"/api/v1/households/{household.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_households_filters_out_of_scope_empty(world: World, api: Login, outsider: str) -> None:
    household = world.household(VILLAGE_1)
    client = api(outsider)
    last4 = household.head_id_masked[-4:]

    for query in (
        f"area={VILLAGE_1}",
        f"name={household.head_name}",
        f"id_last4={last4}",
        "status=registered",
    ):
        response = client.get(f"/api/v1/households/?{query}")
        assert response.json()["count"] == 0, query


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_household_update_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    household = world.household(VILLAGE_1)

    response = api(outsider).patch(
        f"/api/v1/households/{household.pk}/", {"phone": "13900000000"}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    household.refresh_from_db()
    assert household.phone == "13809370000"


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_person_reveal_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    household = world.household(VILLAGE_1)
    person = household.members.get()

    response = api(outsider).post(f"/api/v1/persons/{person.pk}/reveal/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_person_reveal_out_of_scope_audited(world: World, api: Login) -> None:
    household = world.household(VILLAGE_1)
    person = household.members.get()
    outsider = world.user("cadre_b")

    api("cadre_b").post(f"/api/v1/persons/{person.pk}/reveal/")

    refused = AuditEntry.objects.filter(actor=outsider, outcome=AuditEntry.Outcome.REFUSED)
    assert list(refused.values_list("action", "object_id")) == [
        ("person.reveal_id", str(person.pk))
    ]


@pytest.mark.django_db
def test_household_create_in_other_village_refused_and_audited(world: World, api: Login) -> None:
    before = Household.objects.count()

    response = api("cadre_v2").post("/api/v1/households/", _household_payload(), format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Household.objects.count() == before
    entry = AuditEntry.objects.get(actor=world.user("cadre_v2"), outcome="refused")
    assert (entry.action, entry.area_code) == ("household.create", VILLAGE_1)


@pytest.mark.django_db
def test_household_update_out_of_scope_audited(world: World, api: Login) -> None:
    household = world.household(VILLAGE_1)

    api("cadre_v3").patch(
        f"/api/v1/households/{household.pk}/", {"phone": "13900000000"}, format="json"
    )

    entry = AuditEntry.objects.get(actor=world.user("cadre_v3"), outcome="refused")
    assert (entry.action, entry.object_id) == ("household.update", str(household.pk))


# --- the inspector ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_households_list_inspector_sees_whole_county(world: World, api: Login) -> None:
    mine = {world.household(VILLAGE_1).pk, world.household(VILLAGE_3).pk}
    world.household("620903100200")

    response = api("inspector_a").get("/api/v1/households/")

    assert {row["id"] for row in response.json()["results"]} == mine


@pytest.mark.django_db
def test_household_create_refused_for_inspector(world: World, api: Login) -> None:
    before = _counts()

    response = api("inspector_a").post("/api/v1/households/", _household_payload(), format="json")

    assert response.status_code >= 400
    assert Household.objects.count() == before[0]


@pytest.mark.django_db
def test_household_update_refused_for_inspector(world: World, api: Login) -> None:
    household = world.household(VILLAGE_1)

    response = api("inspector_a").patch(
        f"/api/v1/households/{household.pk}/", {"status": "exited"}, format="json"
    )

    assert response.status_code >= 400
    household.refresh_from_db()
    assert household.status == Household.Status.REGISTERED


@pytest.mark.django_db
def test_person_reveal_refused_for_inspector_without_grant(world: World, api: Login) -> None:
    person = world.household(VILLAGE_1).members.get()

    response = api("inspector_a").post(f"/api/v1/persons/{person.pk}/reveal/")

    assert response.status_code == 403
    assert response.json()["code"] == "role"
    assert "id_number" not in response.json()


# --- households: creation and bad input ---------------------------------------------------


@pytest.mark.django_db
def test_household_create_returns_masked_numbers(world: World, api: Login) -> None:
    payload = _household_payload()

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    assert response.status_code == 201
    body = response.json()
    number = payload["head_id_number"]
    assert body["head_id_masked"] == f"{number[:6]}********{number[-4:]}"
    assert number not in response.content.decode()
    assert payload["bank_card"] not in response.content.decode()
    assert body["phone"] == "138****1234"


def _assert_refused_unchanged(
    response: Any, before: tuple[int, int, int, int], field: str
) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body: dict[str, Any] = response.json()
    assert field in body, body
    assert _counts() == before
    return body


@pytest.mark.django_db
def test_household_create_wrong_check_digit_refused(world: World, api: Login) -> None:
    before = _counts()
    payload = _household_payload(head_id_number=with_wrong_check_digit(id_number()))

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    _assert_refused_unchanged(response, before, "head_id_number")


@pytest.mark.django_db
def test_household_create_member_wrong_check_digit_refused(world: World, api: Login) -> None:
    before = _counts()
    member = {
        "name": "王小明",
        "id_number": with_wrong_check_digit(id_number()),
        "relation": "child",
    }

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(members=[member]), format="json"
    )

    body = _assert_refused_unchanged(response, before, "members")
    assert "id_number" in str(body["members"])


@pytest.mark.django_db
def test_household_create_impossible_birth_date_refused(world: World, api: Login) -> None:
    before = _counts()
    first17 = "62090219990231001"  # 31 February
    payload = _household_payload(head_id_number=first17 + id_check_digit(first17))

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    _assert_refused_unchanged(response, before, "head_id_number")


@pytest.mark.django_db
def test_household_create_duplicate_id_refused(world: World, api: Login) -> None:
    number = id_number()
    world.household(VILLAGE_1, head_id_number=number)
    before = _counts()

    response = api("cadre_v3").post(
        "/api/v1/households/",
        _household_payload(area=VILLAGE_3, head_id_number=number),
        format="json",
    )

    _assert_refused_unchanged(response, before, "head_id_number")


@pytest.mark.django_db
def test_household_create_duplicate_id_does_not_reveal_other_household(
    world: World, api: Login
) -> None:
    number = id_number()
    existing = world.household(VILLAGE_1, head_id_number=number, head_name="赵永福")

    response = api("cadre_v3").post(
        "/api/v1/households/",
        _household_payload(area=VILLAGE_3, head_name="孙红霞", head_id_number=number),
        format="json",
    )

    text = response.content.decode()
    assert response.status_code == 400
    for secret in (existing.head_name, VILLAGE_1, "四坝村", "泉湖乡", str(existing.pk)):
        assert secret not in text


@pytest.mark.django_db
def test_household_create_member_duplicate_of_registered_head_refused(
    world: World, api: Login
) -> None:
    number = id_number()
    world.household(VILLAGE_1, head_id_number=number)
    before = _counts()
    member = {"name": "王小明", "id_number": number, "relation": "child"}

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(members=[member]), format="json"
    )

    assert response.status_code == 400
    assert _counts() == before


@pytest.mark.django_db
def test_household_create_long_name_refused(world: World, api: Login) -> None:
    before = _counts()

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(head_name="王" * 10_000), format="json"
    )

    body = _assert_refused_unchanged(response, before, "head_name")
    assert len(response.content) < 2_000
    assert "王" * 51 not in str(body)


@pytest.mark.django_db
def test_household_create_long_member_name_refused(world: World, api: Login) -> None:
    before = _counts()
    member = {"name": "李" * 10_000, "id_number": id_number(), "relation": "spouse"}

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(members=[member]), format="json"
    )

    _assert_refused_unchanged(response, before, "members")


@pytest.mark.django_db
def test_household_create_unknown_cause_refused(world: World, api: Login) -> None:
    before = _counts()

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(poverty_causes=["laziness"]), format="json"
    )

    _assert_refused_unchanged(response, before, "poverty_causes")


@pytest.mark.django_db
def test_household_create_bad_phone_refused(world: World, api: Login) -> None:
    before = _counts()

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(phone="12345"), format="json"
    )

    _assert_refused_unchanged(response, before, "phone")


@pytest.mark.django_db
def test_household_create_bad_bank_card_refused(world: World, api: Login) -> None:
    before = _counts()

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(bank_card="6217-abc"), format="json"
    )

    _assert_refused_unchanged(response, before, "bank_card")


@pytest.mark.django_db
def test_household_create_markup_stored_as_text(world: World, api: Login) -> None:
    markup = "<script>alert(1)</script>"

    response = api("cadre_v1").post(
        "/api/v1/households/", _household_payload(head_name=markup), format="json"
    )

    assert response.status_code == 201
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["head_name"] == markup
    assert Household.objects.get(pk=response.json()["id"]).head_name == markup


@pytest.mark.django_db
def test_household_detail_returns_markup_as_json_text(world: World, api: Login) -> None:
    markup = '<img src=x onerror="alert(1)">'
    household = world.household(VILLAGE_1, head_name=markup)

    response = api("cadre_v1").get(f"/api/v1/households/{household.pk}/")

    assert response["Content-Type"].startswith("application/json")
    assert response.json()["head_name"] == markup


# --- languages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_errors_in_chinese_by_default(world: World, api: Login) -> None:
    payload = _household_payload()
    del payload["head_name"]

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["head_name"] == ["该字段是必填项。"]


@pytest.mark.django_db
def test_api_errors_in_english_when_asked(world: World, api: Login) -> None:
    payload = _household_payload()
    del payload["head_name"]

    response = api("cadre_v1", language="en").post("/api/v1/households/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["head_name"] == ["This field is required."]


@pytest.mark.django_db
@pytest.mark.skipif(not PROJECT_MO.exists(), reason="project translations not compiled yet")
def test_project_errors_in_chinese_by_default(world: World, api: Login) -> None:
    payload = _household_payload(head_id_number=with_wrong_check_digit(id_number()))

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    message = response.json()["head_id_number"][0]
    assert CJK.search(message), message


@pytest.mark.django_db
def test_project_errors_in_english_when_asked(world: World, api: Login) -> None:
    payload = _household_payload(head_id_number=with_wrong_check_digit(id_number()))

    response = api("cadre_v1", language="en").post("/api/v1/households/", payload, format="json")

    assert response.json()["head_id_number"] == [
        "The ID number's check digit is wrong; please check the number."
    ]


@pytest.mark.django_db
def test_county_code_constant_matches_program(world: World) -> None:
    assert world.program.area_id == COUNTY


# --- the card holder and kin declarations (DOMAIN rules 4 and 5) ------------------------------


HOLDER_REFUSED_ZH = (
    "补贴只发放到户主本人名下的银行卡（按户补贴为户主开卡）：该卡户名为王建军，户主为王建国。"
)


@pytest.mark.django_db
@pytest.mark.skipif(not PROJECT_MO.exists(), reason="project translations not compiled yet")
def test_household_create_card_in_another_name_refused_in_chinese(world: World, api: Login) -> None:
    before = _counts()
    payload = _household_payload(head_name="王建国", bank_card_holder="王建军")

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    body = _assert_refused_unchanged(response, before, "bank_card_holder")
    assert body["bank_card_holder"] == [HOLDER_REFUSED_ZH]


@pytest.mark.django_db
def test_household_create_card_in_another_name_refused_in_english(world: World, api: Login) -> None:
    before = _counts()
    payload = _household_payload(head_name="王建国", bank_card_holder="王建军")

    response = api("cadre_v1", language="en").post("/api/v1/households/", payload, format="json")

    body = _assert_refused_unchanged(response, before, "bank_card_holder")
    assert body["bank_card_holder"] == [
        "Subsidies are paid only to a bank card in the head of household's name: this card is "
        "in the name of 王建军, the head is 王建国."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("holder", ["", "   "])
def test_household_create_blank_card_holder_refused(world: World, api: Login, holder: str) -> None:
    before = _counts()
    payload = _household_payload(bank_card_holder=holder)

    response = api("cadre_v1", language="en").post("/api/v1/households/", payload, format="json")

    body = _assert_refused_unchanged(response, before, "bank_card_holder")
    assert body["bank_card_holder"] == ["Enter the name on the bank card."]


@pytest.mark.django_db
def test_household_create_overlong_card_holder_refused(world: World, api: Login) -> None:
    before = _counts()
    payload = _household_payload(bank_card_holder="王" * 51)

    response = api("cadre_v1", language="en").post("/api/v1/households/", payload, format="json")

    body = _assert_refused_unchanged(response, before, "bank_card_holder")
    assert body["bank_card_holder"] == ["A name has at most 50 characters."]


@pytest.mark.django_db
@pytest.mark.parametrize("omit", [True, False], ids=["left-out", "null"])
def test_household_create_without_card_holder_is_the_heads(
    world: World, api: Login, omit: bool
) -> None:
    payload = _household_payload(head_name="王建国")
    if omit:
        del payload["bank_card_holder"]
    else:
        payload["bank_card_holder"] = None

    response = api("cadre_v1").post("/api/v1/households/", payload, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["bank_card_holder"] == "王建国"
    household = Household.objects.get(pk=response.json()["id"])
    assert household.bank_card_holder == "王建国"
    entry = AuditEntry.objects.get(action="household.create", object_id=str(household.pk))
    assert entry.changes["bank_card_holder"] == [None, "王建国"]


@pytest.mark.django_db
def test_household_shows_the_card_holder(world: World, api: Login) -> None:
    response = api("cadre_v1").post(
        "/api/v1/households/",
        _household_payload(head_name="阿依古丽·买买提", bank_card_holder="阿依古丽•买买提"),
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["bank_card_holder"] == "阿依古丽•买买提"


@pytest.mark.django_db
def test_household_new_card_without_holder_is_the_heads(world: World, api: Login) -> None:
    household = world.household(
        VILLAGE_1, head_name="阿依古丽·买买提", bank_card_holder="阿依古丽•买买提"
    )

    response = api("cadre_v1").patch(
        f"/api/v1/households/{household.pk}/", {"bank_card": bank_card_number()}, format="json"
    )

    assert response.status_code == 200, response.content
    after = Household.objects.get(pk=household.pk)
    assert after.bank_card_hash != household.bank_card_hash
    assert after.bank_card_changed_at is not None
    assert after.bank_card_holder == "阿依古丽·买买提"
    assert response.json()["bank_card_holder"] == "阿依古丽·买买提"


@pytest.mark.django_db
@pytest.mark.skipif(not PROJECT_MO.exists(), reason="project translations not compiled yet")
def test_household_new_card_in_another_name_refused_and_changes_nothing(
    world: World, api: Login
) -> None:
    household = world.household(VILLAGE_1, head_name="王建国")
    before = _counts()

    response = api("cadre_v1").patch(
        f"/api/v1/households/{household.pk}/",
        {"bank_card": bank_card_number(), "bank_card_holder": "王建军", "phone": "13900001111"},
        format="json",
    )

    body = _assert_refused_unchanged(response, before, "bank_card_holder")
    assert body["bank_card_holder"] == [HOLDER_REFUSED_ZH]
    after = Household.objects.get(pk=household.pk)
    assert (after.bank_card_hash, after.bank_card_holder, after.phone) == (
        household.bank_card_hash,
        "王建国",
        household.phone,
    )
    assert after.bank_card_changed_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("holder", "field_errors", "stored"),
    [
        ("王建军", ["bank_card_holder"], None),  # another name: refused
        ("", ["bank_card_holder"], None),  # the page requires it, the service refuses it
        (" 王建国 ", [], "王建国"),
    ],
    ids=["another-name", "blank", "the-head"],
)
@pytest.mark.skipif(not PROJECT_MO.exists(), reason="project translations not compiled yet")
def test_household_page_and_api_decide_the_card_holder_alike(
    world: World, api: Login, holder: str, field_errors: list[str], stored: str | None
) -> None:
    """The register page and the API put the same name through the same rule: the same
    refusal on the same field (in Chinese by default), or the same name stored."""
    page = Client()
    page.force_login(world.user("cadre_v1"))
    page_data: dict[str, Any] = {
        "area": VILLAGE_1,
        "head_name": "王建国",
        "head_id_number": id_number(),
        "bank_card": bank_card_number(),
        "bank_card_holder": holder,
        "phone": "13809371234",
        "household_type": Household.Kind.GENERAL,
        "poverty_causes": [Household.Cause.CAPITAL],
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "30",
    }
    before = _counts()

    by_page = page.post(reverse("workflows:cadre_household_create"), page_data)
    by_api = api("cadre_v1").post(
        "/api/v1/households/",
        _household_payload(head_name="王建国", bank_card_holder=holder),
        format="json",
    )

    if field_errors:
        assert by_page.status_code == 200 and by_api.status_code == 400, by_api.content
        page_errors = by_page.context["form"].errors
        assert list(page_errors) == list(by_api.json()) == field_errors
        assert all(CJK.search(m) for m in by_api.json()["bank_card_holder"])
        if holder:  # a blank name stops at the page form's own "required" first
            assert page_errors["bank_card_holder"] == by_api.json()["bank_card_holder"]
        assert _counts() == before
    else:
        assert by_page.status_code == 302 and by_api.status_code == 201, by_api.content
        created = [resolve(by_page["Location"]).kwargs["pk"], by_api.json()["id"]]
        holders = Household.objects.filter(pk__in=created).values_list("bank_card_holder")
        assert sorted(holders) == [(stored,), (stored,)]


@pytest.mark.django_db
def test_program_shows_the_card_change_hold(world: World, api: Login) -> None:
    response = api("cadre_v1").get(f"/api/v1/programs/{world.program.pk}/")

    assert response.json()["current"]["card_change_hold_days"] == 30


@pytest.mark.django_db
def test_kin_declaration_created_for_oneself(world: World, api: Login) -> None:
    relative = id_number()

    response = api("reviewer_t1").post(
        "/api/v1/kin-declarations/",
        {"relation": "spouse", "name": "李秀英", "id_number": relative},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["official"] == "reviewer_t1"
    assert body["id_masked"].endswith(relative[-4:])
    assert relative not in response.content.decode()


@pytest.mark.django_db
def test_kin_declaration_for_another_official_refused(world: World, api: Login) -> None:
    response = api("cadre_v1").post(
        "/api/v1/kin-declarations/",
        {
            "relation": "spouse",
            "name": "李秀英",
            "id_number": id_number(),
            "official": world.user("reviewer_t1").pk,
        },
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "not_self"
    assert not KinDeclaration.objects.exists()


@pytest.mark.django_db
def test_kin_declaration_bad_number_refused(world: World, api: Login) -> None:
    response = api("cadre_v1").post(
        "/api/v1/kin-declarations/",
        {"relation": "spouse", "name": "李秀英", "id_number": with_wrong_check_digit(id_number())},
        format="json",
    )

    assert response.status_code == 400
    assert "id_number" in response.json()


@pytest.mark.django_db
def test_kin_declarations_list_is_scoped(world: World, api: Login) -> None:
    mine = declare_kin(official=world.user("cadre_v1"), relation="spouse", id_number=id_number())

    def listed(username: str) -> set[int]:
        response = api(username).get("/api/v1/kin-declarations/")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert listed("cadre_v1") == {mine.pk}
    assert listed("inspector_a") == {mine.pk}
    assert listed("inspector_b") == set()
    assert listed("cadre_v2") == set()
