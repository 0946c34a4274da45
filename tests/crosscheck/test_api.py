"""The cross-checks through the API: upload, scan, leads with filters, disposition; for
inspectors only, each in their county."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crosscheck.models import Lead, ReferenceList
from tests.crosscheck.conftest import list_csv, list_xlsx
from tests.factories import World, bank_card_number, id_number

K = ReferenceList.Kind
Api = Callable[..., APIClient]


@pytest.fixture(autouse=True)
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def _upload(client: APIClient, kind: str, data: bytes, name: str = "list.csv", **extra: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/api/v1/crosscheck/lists/",
        {
            "kind": kind,
            "source": "县人社局",
            "as_of": "2026-11-01",
            "file": SimpleUploadedFile(name, data),
            **extra,
        },
        format="multipart",
    )


def _scan(client: APIClient, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/integrity/scans/", {}, format="json")
    assert response.status_code == 202, response.content
    scan: dict[str, Any] = client.get(f"/api/v1/integrity/scans/{response.json()['id']}/").json()
    assert scan["status"] == "done", scan
    return scan


def test_upload_answers_counts_and_reasons(world: World, api: Api) -> None:
    client = api("inspector_a")
    rows = [[id_number(), "王明", "县教育局"], ["123", "李强", "县教育局"]]
    response = _upload(client, K.PUBLIC_SERVANT, list_csv(K.PUBLIC_SERVANT, rows))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows_read"], body["rows_kept"], body["rows_skipped"]) == (2, 1, 1)
    assert body["skipped"][0]["row"] == 3 and body["skipped"][0]["column"] == "身份证号"
    assert body["in_force"] is True and body["county"] == "620902"
    listed = client.get("/api/v1/crosscheck/lists/").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]


def test_upload_of_a_misfit_file_answers_its_code(world: World, api: Api) -> None:
    response = _upload(
        api("inspector_a"),
        K.DECEASED,
        list_xlsx(K.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"]]),
        name="死亡.xlsx",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "reference_list_invalid"
    assert "死亡日期" in response.json()["file"][0]


def test_non_inspectors_are_refused(world: World, api: Api) -> None:
    client = api("approver_a")
    for url in (
        "/api/v1/crosscheck/lists/",
        "/api/v1/integrity/scans/",
        "/api/v1/integrity/leads/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "role"
    response = _upload(
        client, K.PUBLIC_SERVANT, list_csv(K.PUBLIC_SERVANT, [[id_number(), "王", "单位"]])
    )
    assert response.status_code == 403 and response.json()["code"] == "role"


def test_scan_then_leads_with_filters_and_disposition(
    world: World, api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    number = id_number()
    servant = world.household(members=[{"name": "王明", "id_number": number, "relation": "spouse"}])
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    client = api("inspector_a")
    assert (
        _upload(
            client, K.PUBLIC_SERVANT, list_csv(K.PUBLIC_SERVANT, [[number, "王明", "县教育局"]])
        ).status_code
        == 201
    )
    scan = _scan(client, django_capture_on_commit_callbacks)
    assert scan["counts"]["public_servant"] == 1 and scan["counts"]["shared_card"] == 2
    assert scan["lists"][0]["kind"] == "public_servant" and len(scan["lists"][0]["sha256"]) == 64
    assert scan["rules"]["vehicle"]["params"]["vehicle_value_min"] == "30000"
    assert scan["duration_ms"] is not None

    found = client.get(
        "/api/v1/integrity/leads/", {"rule": "public_servant", "scan": scan["id"]}
    ).json()
    (lead,) = found["results"]
    assert lead["household"] == servant.pk and lead["application"] is None
    assert lead["status"] == "open" and lead["first_seen_scan"] == scan["id"]
    assert "县教育局" in lead["evidence"]["text"] and "王明" in lead["evidence"]["text"]
    assert lead["evidence"]["list"]["source"] == "县人社局"
    assert number not in str(lead)
    by_household = client.get("/api/v1/integrity/leads/", {"household": servant.pk}).json()
    assert lead["id"] in [x["id"] for x in by_household["results"]]
    assert {x["household"] for x in by_household["results"]} == {servant.pk}
    assert client.get("/api/v1/integrity/leads/", {"area": "620903"}).json()["count"] == 0
    assert AuditEntry.objects.filter(action="lead.list").exists()

    response = client.post(
        f"/api/v1/integrity/leads/{lead['id']}/disposition/",
        {"status": "confirmed", "note": "经核实，其配偶为在编教师。"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"
    assert client.get("/api/v1/integrity/leads/", {"status": "confirmed"}).json()["count"] == 1
    assert AuditEntry.objects.filter(action="lead.dispose", object_id=str(lead["id"])).exists()

    again = client.post(
        f"/api/v1/integrity/leads/{lead['id']}/disposition/",
        {"status": "confirmed", "note": "再次确认"},
        format="json",
    )
    assert again.status_code == 409 and again.json()["code"] == "wrong_state"


def test_evidence_in_english_for_an_english_reader(
    world: World, api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    _scan(api("inspector_a"), django_capture_on_commit_callbacks)
    lead = Lead.objects.filter(rule="shared_card").first()
    assert lead is not None
    body = api("inspector_a", language="en").get(f"/api/v1/integrity/leads/{lead.pk}/").json()
    assert body["evidence"]["text"].startswith("The bank card ")


def test_other_county_inspector_sees_no_lead(
    world: World, api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    _scan(api("inspector_a"), django_capture_on_commit_callbacks)
    lead = Lead.objects.filter(rule="shared_card").first()
    assert lead is not None
    other = api("inspector_b")
    assert other.get("/api/v1/integrity/leads/").json()["count"] == 0
    response = other.get(f"/api/v1/integrity/leads/{lead.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = other.post(
        f"/api/v1/integrity/leads/{lead.pk}/disposition/",
        {"status": "cleared", "note": "x"},
        format="json",
    )
    assert response.status_code == 404


def test_bad_filters_are_field_errors(world: World, api: Api) -> None:
    client = api("inspector_a")
    response = client.get(
        "/api/v1/integrity/leads/", {"rule": "nope", "status": "maybe", "scan": "x"}
    )
    assert response.status_code == 400
    assert {"rule", "status", "scan"} <= set(response.json())


def test_every_rule_through_the_api_with_its_near_misses(
    world: World, api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    """One county holding a match of every rule and the near misses beside them; the scan
    is started and its leads read through the API, rule by rule."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from applications.services import household_update
    from approvals.services.card_checks import card_check_record
    from approvals.services.filing import application_edit
    from common import clock
    from payments.services.bank_files import bank_file_export, bank_return_import
    from payments.services.rounds import payment_round_approve, payment_round_create
    from tests.factories import (
        VILLAGE_2,
        VILLAGE_3,
        declare_kin,
        return_file,
        seed_program,
        upload_signed_agreement,
    )

    phones = iter(range(13900000000, 13900099999))
    year_ago = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)

    def household(area: str = "620902100200", **fields: Any) -> Any:
        return world.household(area, **{"phone": str(next(phones)), **fields})

    def with_member() -> tuple[str, Any]:
        number = id_number()
        found = household(members=[{"name": "王小明", "id_number": number, "relation": "child"}])
        return number, found

    def pay(app: Any, short: bool = False) -> None:
        upload_signed_agreement(actor=world.user(_cadre(app)), application_id=app.pk)
        maker, approver = world.user("finance_a"), world.user("approver_a")
        round_ = payment_round_create(
            actor=maker,
            program_id=app.program_id,
            area_code="620902000000",
            application_ids=[app.pk],
        )
        payment_round_approve(actor=approver, round_id=round_.pk)
        bank_file_export(actor=maker, round_id=round_.pk)
        round_.refresh_from_db()
        amount = Decimal("3500.00") if short else None
        answers = {line.reference: ("0000", "成功", amount) for line in round_.lines.all()}
        bank_return_import(actor=maker, round_id=round_.pk, data=return_file(round_, answers))

    def _cadre(app: Any) -> str:
        return {"620902100200": "cadre_v1", VILLAGE_2: "cadre_v2", VILLAGE_3: "cadre_v3"}[
            app.area_code
        ]

    expected: dict[str, set[int]] = {}
    servant, servant_home = with_member()
    expected["public_servant"] = {servant_home.pk}
    car, car_home = with_member()
    cheap_car, _home = with_member()
    expected["vehicle"] = {car_home.pk}
    shop, shop_home = with_member()
    house, _home = with_member()
    expected["property"] = {shop_home.pk}
    firm, firm_home = with_member()
    closed, _home = with_member()
    expected["business"] = {firm_home.pk}
    dead_head = id_number()
    dead_home = household(head_id_number=dead_head)
    world.application("submitted", household=dead_home)
    expected["deceased"] = {dead_home.pk}
    later_dead = id_number()
    moved, moved_home = with_member()
    world.application("submitted", household=moved_home)
    expected["moved_out"] = {moved_home.pk}
    later_moved = id_number()
    with clock.frozen_at(year_ago):  # paid long before the death; applied before the move
        early = household(VILLAGE_2, head_id_number=later_dead)
        pay(world.application("approved", household=early))
        world.application(
            "submitted",
            household=household(
                VILLAGE_2,
                members=[{"name": "李小", "id_number": later_moved, "relation": "child"}],
            ),
        )
    card = bank_card_number()
    sharing = [household(bank_card=card), household(VILLAGE_2, bank_card=card)]
    expected["shared_card"] = {h.pk for h in sharing}
    expected["shared_phone"] = {world.household(phone="13811112222").pk for _ in range(3)}
    for _ in range(2):
        world.household(phone="13833334444")
    relative = id_number()
    kin_app = world.application("approved", household=household(head_id_number=relative))
    declare_kin(official=world.user("reviewer_t1"), relation="spouse", id_number=relative)
    other_relative = id_number()
    world.application("approved", household=household(head_id_number=other_relative))
    declare_kin(official=world.user("reviewer_t2"), relation="spouse", id_number=other_relative)
    expected["kin_handled"] = {kin_app.household_id}
    changed_home = household()
    changed_app = world.application("approved", household=changed_home)
    household_update(
        actor=world.user("cadre_v1"), household_id=changed_home.pk, bank_card=bank_card_number()
    )
    card_check_record(
        actor=world.user("approver_a"), application_id=changed_app.pk, reason="已核实"
    )
    pay(changed_app)
    expected["card_changed_before_payment"] = {changed_home.pk}
    short_app = world.application("approved", household=household())
    pay(short_app, short=True)
    expected["paid_amount_mismatch"] = {short_app.household_id}
    twice = household()
    world.application("approved", household=twice)
    second = seed_program(county_code="620902000000", code="fupin-second")
    world.application("approved", household=twice, program=second)
    expected["duplicate_benefit"] = {twice.pk}
    for i in range(10):
        app = world.application("draft", household=household(VILLAGE_3), appraised=False)
        application_edit(
            actor=world.user("cadre_v3"),
            application_id=app.pk,
            appraisal_date=clock.today() - timedelta(days=3 if i % 2 else 10),
            appraisal_attendees=41,
            appraisal_votes_for=39,
            appraisal_votes_against=2,
        )
        world.walk(app, "submitted")

    client = api("inspector_a")
    lists = {
        K.PUBLIC_SERVANT: [[servant, "王小明", "县财政局"]],
        K.VEHICLE: [[car, "王小明", "甘F1", "45000"], [cheap_car, "王小明", "甘F2", "12000"]],
        K.PROPERTY: [[shop, "王小明", "南街1号", "商铺"], [house, "王小明", "四坝村", "自建房"]],
        K.BUSINESS: [[firm, "王小明", "某公司", "存续"], [closed, "王小明", "某店", "注销"]],
        K.DECEASED: [[dead_head, "王某", "2025-06-01"], [later_dead, "李某", "2025-06-01"]],
        K.MOVED_OUT: [[moved, "王小明", "2025-01-10"], [later_moved, "李小", "2025-09-10"]],
    }
    for kind, rows in lists.items():
        assert _upload(client, kind, list_csv(kind, rows)).status_code == 201
    _scan(client, django_capture_on_commit_callbacks)

    for rule, households in expected.items():
        body = client.get("/api/v1/integrity/leads/", {"rule": rule, "page_size": "200"}).json()
        found = {lead["household"] for lead in body["results"]}
        if rule == "appraisal_pattern":
            continue
        assert found == households, rule
        assert all(lead["evidence"]["text"] for lead in body["results"]), rule
    pattern = client.get("/api/v1/integrity/leads/", {"rule": "appraisal_pattern"}).json()
    assert [lead["area"] for lead in pattern["results"]] == [VILLAGE_3]
