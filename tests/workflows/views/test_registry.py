"""The registry's sheet pages (``workflows.views.registry``): upload, report, confirm, and
the exports, through Django's test client."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from applications.models import Household, HouseholdImport
from audit.models import AuditEntry
from tests.applications.test_imports import as_csv, household_rows
from tests.factories import VILLAGE_1, World

pytestmark = pytest.mark.usefixtures("media_root")


def body(response: Any) -> bytes:
    """A download's bytes, streamed or not."""
    return b"".join(response.streaming_content)


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def upload(client: Client, rows: list[list[Any]]) -> Any:
    file = SimpleUploadedFile("台账.csv", as_csv(rows).getvalue(), content_type="text/csv")
    return client.post(reverse("workflows:registry_import"), {"file": file})


def test_upload_checks_then_confirm_registers(world: World) -> None:
    client = client_for(world, "cadre_v1")
    assert client.get(reverse("workflows:registry_import")).status_code == 200

    checked = upload(client, household_rows("1", members=2))

    job = HouseholdImport.objects.get()
    assert checked.status_code == 302
    assert checked["Location"] == reverse("workflows:registry_import_report", args=[job.pk])
    report = client.get(checked["Location"]).content.decode()
    assert 'id="persons">3<' in report
    assert reverse("workflows:registry_import_confirm", args=[job.pk]) in report
    assert not Household.objects.filter(head_name="王建国").exists()

    confirm = reverse("workflows:registry_import_confirm", args=[job.pk])
    asked = client.post(confirm)  # no JavaScript: the question comes first
    assert asked.status_code == 200 and not Household.objects.filter(head_name="王建国").exists()
    done = client.post(confirm, {"confirmed": "1"}, follow=True)

    assert Household.objects.filter(head_name="王建国").count() == 1
    assert 'id="outcome"' in done.content.decode()


def test_report_lists_the_problems_by_row_and_column(world: World) -> None:
    rows = household_rows("1")
    rows[1][4] = "表兄"
    client = client_for(world, "cadre_v1")

    report = client.get(upload(client, rows)["Location"]).content.decode()

    assert (
        'id="problems"' in report and "与户主关系" in report and '<td class="num">3</td>' in report
    )
    assert (
        reverse("workflows:registry_import_confirm", args=[HouseholdImport.objects.get().pk])
        not in report
    )


def test_a_file_that_is_no_sheet_is_a_form_error(world: World) -> None:
    client = client_for(world, "cadre_v1")
    file = SimpleUploadedFile("a.xlsx", b"%PDF-1.4 not a sheet")

    response = client.post(reverse("workflows:registry_import"), {"file": file})

    assert response.status_code == 200
    assert "xlsx" in response.content.decode()
    assert not HouseholdImport.objects.exists()


def test_only_importers_see_the_page_and_only_their_own_reports(world: World) -> None:
    assert (
        client_for(world, "approver_a").get(reverse("workflows:registry_import")).status_code == 403
    )
    client = client_for(world, "cadre_v1")
    job_url = upload(client, household_rows("1"))["Location"]
    assert client_for(world, "reviewer_t1").get(job_url).status_code == 404


def test_household_export_from_the_list(world: World) -> None:
    household = world.household(VILLAGE_1)
    client = client_for(world, "cadre_v1")
    listing = client.get(reverse("workflows:cadre_households")).content.decode()
    assert reverse("workflows:households_export") in listing

    response = client.get(reverse("workflows:households_export"), {"format": "csv"})

    rows = list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))
    assert rows[1][0] == str(household.pk) and rows[1][3] == household.head_id_masked
    assert AuditEntry.objects.filter(action="household.export", actor_name="cadre_v1").exists()
    refused = client.get(
        reverse("workflows:households_export"), {"format": "csv", "reveal_id_number": "1"}
    )
    assert refused.status_code == 403


def test_applications_export_from_the_village_list(world: World) -> None:
    app = world.application("submitted")
    client = client_for(world, "cadre_v1")
    assert (
        reverse("workflows:applications_export")
        in client.get(reverse("workflows:cadre_village")).content.decode()
    )

    response = client.get(reverse("workflows:applications_export"), {"format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    from common.sheets import sheet_rows

    rows = list(sheet_rows(io.BytesIO(body(response))))
    assert rows[1][1][0] == str(app.pk)
