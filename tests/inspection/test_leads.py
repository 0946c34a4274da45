"""The inspectors' cross-check pages (``inspection.leads``): leads with counts, chart and
filters, one lead with its evidence and disposition, the Excel export, the lists and their
upload, and the start of a scan."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEntry
from crosscheck.models import Lead, ReferenceList, Scan
from tests.crosscheck.conftest import list_csv, scan
from tests.factories import World, bank_card_number, id_number

LEADS = "/inspect/leads/"


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def _shared(world: World) -> list[Lead]:
    card = bank_card_number()
    world.household(bank_card=card, head_name="赵共卡")
    world.household(bank_card=card)
    scan()
    return list(Lead.objects.filter(rule="shared_card").order_by("pk"))


def test_leads_page_counts_by_rule_and_village_with_a_chart(world: World) -> None:
    _shared(world)
    response = client_for(world, "inspector_a").get(LEADS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "<rect" in page
    by_rule = {label: total for label, total, _open, _link in response.context["by_rule"]}
    assert by_rule["银行卡多户共用"] == 2
    assert "四坝村" in [label for label, *_rest in response.context["by_area"]]
    assert AuditEntry.objects.filter(action="lead.list", actor=world.user("inspector_a")).exists()


def test_leads_page_filters_by_rule(world: World) -> None:
    _shared(world)
    response = client_for(world, "inspector_a").get(LEADS, {"rule": "shared_card"})
    assert {lead.rule for lead, *_rest in response.context["leads"]} == {"shared_card"}
    response = client_for(world, "inspector_a").get(LEADS, {"rule": "vehicle"})
    assert response.context["leads"] == []


def test_lead_page_shows_evidence_and_records_the_conclusion(world: World) -> None:
    lead = _shared(world)[0]
    client = client_for(world, "inspector_a")
    response = client.get(f"{LEADS}{lead.pk}/")
    assert response.status_code == 200
    assert "登记在 2 户" in response.content.decode()
    assert AuditEntry.objects.filter(action="lead.read", object_id=str(lead.pk)).exists()

    response = client.post(
        f"{LEADS}{lead.pk}/", {"status": "cleared", "note": "经核实为同一户拆分。"}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.note) == ("cleared", "经核实为同一户拆分。")


def test_lead_page_refuses_a_conclusion_without_a_note(world: World) -> None:
    lead = _shared(world)[0]
    response = client_for(world, "inspector_a").post(f"{LEADS}{lead.pk}/", {"status": "cleared"})
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.status == "open"


def test_lead_of_another_county_is_not_found(world: World) -> None:
    lead = _shared(world)[0]
    assert client_for(world, "inspector_b").get(f"{LEADS}{lead.pk}/").status_code == 404


def test_leads_pages_are_for_inspectors(world: World) -> None:
    client = client_for(world, "approver_a")
    for url in (LEADS, "/inspect/lists/", f"{LEADS}export.xlsx"):
        assert client.get(url).status_code == 403, url


def test_export_is_a_workbook_of_the_leads_and_on_the_record(world: World) -> None:
    leads = _shared(world)
    response = client_for(world, "inspector_a").get(f"{LEADS}export.xlsx", {"rule": "shared_card"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + len(leads)
    assert {r[0] for r in rows[1:]} == {str(lead.pk) for lead in leads}
    assert AuditEntry.objects.filter(action="lead.export").exists()


def test_lists_page_uploads_and_reports(world: World) -> None:
    data = list_csv(
        ReferenceList.Kind.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"], ["1", "李", "局"]]
    )
    client = client_for(world, "inspector_a")
    response = client.post(
        "/inspect/lists/",
        {
            "kind": "public_servant",
            "source": "县委组织部",
            "as_of": "2026-11-01",
            "file": SimpleUploadedFile("servants.csv", data),
        },
    )
    assert response.status_code == 302
    reference = ReferenceList.objects.get()
    assert (reference.rows_kept, reference.rows_skipped) == (1, 1)
    page = client.get("/inspect/lists/").content.decode()
    assert "县委组织部" in page and "第 3 行" in page


def test_lists_page_refuses_a_misfit_file_and_keeps_nothing(world: World) -> None:
    data = list_csv(ReferenceList.Kind.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"]])
    response = client_for(world, "inspector_a").post(
        "/inspect/lists/",
        {
            "kind": "deceased",
            "source": "县公安局",
            "as_of": "2026-11-01",
            "file": SimpleUploadedFile("deaths.csv", data),
        },
    )
    assert response.status_code == 400
    assert "死亡日期" in response.content.decode()
    assert not ReferenceList.objects.exists()


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def test_scan_button_runs_a_scan(
    world: World, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world, "inspector_a").post("/inspect/scans/")
    assert response.status_code == 302
    (done,) = Scan.objects.all()
    assert done.status == "done" and done.requested_by == world.user("inspector_a")
    assert done.counts["shared_card"] == 2


def test_household_filter_shows_only_that_households_leads(world: World) -> None:
    leads = _shared(world)
    household = leads[0].household_id
    assert household is not None
    response = client_for(world, "inspector_a").get(LEADS, {"household": household})
    assert {lead.household_id for lead, *_rest in response.context["leads"]} == {household}


def test_inspector_of_two_counties_chooses_the_county(world: World) -> None:
    from tests.factories import colleague

    colleague("inspector_ab", "inspector", "620902000000")
    both = colleague("inspector_ab", "inspector", "620903000000")
    client = Client()
    client.force_login(both)
    page = client.get(LEADS).content.decode()
    assert 'name="county"' in page and "620903" in page
    data = list_csv(ReferenceList.Kind.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"]])
    response = client.post(
        "/inspect/lists/",
        {
            "county": "620903",
            "kind": "public_servant",
            "source": "县委组织部",
            "as_of": "2026-11-01",
            "file": SimpleUploadedFile("servants.csv", data),
        },
    )
    assert response.status_code == 302
    assert ReferenceList.objects.get().county_code == "620903"
