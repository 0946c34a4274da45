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
