"""Exporting the registry and the applications as sheets: the list's rows in the template's
layout, masked numbers unless revealed where the reader may, every export audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from rest_framework.test import APIClient

from applications import idnumbers
from applications.exports import households_export
from applications.imports import household_import_start
from applications.registry_sheet import HEADERS
from applications.roles import REVEAL_PERMISSION
from applications.services import role_grant
from audit.models import AuditEntry
from common.errors import Code, Forbidden
from common.sheets import sheet_rows
from tests.applications.test_imports import as_csv, household_rows
from tests.factories import VILLAGE_1, VILLAGE_3, World

pytestmark = pytest.mark.usefixtures("media_root")
EXPORT = "/api/v1/households/export/"


def body(response: Any) -> bytes:
    """A download's bytes, streamed or not."""
    return b"".join(response.streaming_content)


def csv_rows(response: Any) -> list[list[str]]:
    text = body(response).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_is_the_template_layout_masked(world: World, api: Callable[..., APIClient]) -> None:
    mine = world.household(VILLAGE_1)
    world.household(VILLAGE_3)  # another township's: not in cadre_v1's list

    response = api("cadre_v1").get(EXPORT, {"format": "csv"})

    assert response.status_code == 200
    rows = csv_rows(response)
    assert rows[0] == list(HEADERS)
    assert [r[0] for r in rows[1:]] == [str(mine.pk)]
    head = rows[1]
    assert head[3] == mine.head_id_masked and "*" in head[3]
    assert head[7] == mine.bank_card_masked
    assert head[4] == "户主" and head[5] == "一般贫困户"
    entry = AuditEntry.objects.filter(action="household.export", actor_name="cadre_v1").get()
    assert entry.changes["revealed"] == [None, "0"]


def test_export_with_full_numbers_needs_the_right_and_is_audited(
    world: World, api: Callable[..., APIClient]
) -> None:
    household = world.household(VILLAGE_1)
    with pytest.raises(Forbidden) as refused:
        households_export(actor=world.user("cadre_v1"), params={}, fmt="csv", reveal=True)
    assert refused.value.code == Code.ROLE
    role_grant(actor=None, username="cadre_v1", role=REVEAL_PERMISSION, area_code=VILLAGE_1)

    response = api("cadre_v1").get(EXPORT, {"format": "xlsx", "reveal_id_number": "true"})

    assert response.status_code == 200
    rows = list(sheet_rows(io.BytesIO(body(response))))
    head = rows[1][1]
    assert head[3] == idnumbers.decrypt(household.members.get().id_cipher)
    assert head[7] == idnumbers.decrypt(household.bank_card_cipher)
    entry = AuditEntry.objects.filter(action="household.export", actor_name="cadre_v1").latest(
        "seq"
    )
    assert entry.changes["revealed"] == [None, "1"] and entry.changes["format"] == [None, "xlsx"]


def test_a_full_export_imports_back_as_the_same_people(
    world: World, api: Callable[..., APIClient]
) -> None:
    job = household_import_start(
        actor=world.user("cadre_v1"),
        file=as_csv(household_rows("1", members=3)),
        file_name="a.csv",
        dry_run=False,
    )
    assert job.applied
    role_grant(actor=None, username="cadre_v1", role=REVEAL_PERMISSION, area_code=VILLAGE_1)
    rows = csv_rows(api("cadre_v1").get(EXPORT, {"format": "csv", "reveal_id_number": "1"}))

    assert len(rows) == 5
    assert [r[4] for r in rows[1:]] == ["户主", "配偶", "子女", "父母"]
    # The same people are already registered: a dry run of the export finds each of them.
    again = household_import_start(
        actor=world.user("cadre_v1"), file=as_csv(rows[1:]), file_name="b.csv"
    )
    assert again.problem_count == 4
    assert {p["column"] for p in again.problems} == {"身份证号"}


def test_export_format_must_be_known(world: World, api: Callable[..., APIClient]) -> None:
    response = api("cadre_v1").get(EXPORT, {"format": "pdf"})

    assert response.status_code == 400
    assert "format" in response.json()


def test_applications_export_follows_the_list_filters(
    world: World, api: Callable[..., APIClient]
) -> None:
    posted = world.application("posted")
    world.application("draft")

    response = api("reviewer_t1").get(
        "/api/v1/applications/export/", {"format": "csv", "status": "posted"}
    )

    assert response.status_code == 200
    rows = csv_rows(response)
    assert [r[0] for r in rows[1:]] == [str(posted.pk)]
    assert "*" in rows[1][4]
    assert AuditEntry.objects.filter(action="application.export", actor_name="reviewer_t1").exists()


def test_template_and_import_through_the_api(world: World, api: Callable[..., APIClient]) -> None:
    client = api("cadre_v1")
    template = client.get("/api/v1/households/import-template/")
    assert template.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(body(template)))
    assert [c.value for c in book.worksheets[0][1]] == list(HEADERS)

    rows = household_rows("1")
    dry = client.post(
        "/api/v1/households/import/", {"file": _named(as_csv(rows), "a.csv")}, format="multipart"
    )
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert dry.json()["persons_found"] == 3

    rows[2][3] = rows[1][3]
    bad = client.post(
        "/api/v1/households/import/",
        {"file": _named(as_csv(rows), "b.csv"), "dry_run": "false"},
        format="multipart",
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == Code.IMPORT_INVALID
    assert bad.json()["problems"][0]["row"] == 4

    confirmed = client.post(f"/api/v1/household-imports/{dry.json()['id']}/confirm/")
    assert confirmed.status_code == 201 and confirmed.json()["households_created"] == 1
    listed = client.get("/api/v1/household-imports/")
    assert {i["id"] for i in listed.json()["results"]} >= {dry.json()["id"], confirmed.json()["id"]}
    assert api("cadre_v2").get(f"/api/v1/household-imports/{dry.json()['id']}/").status_code == 404


def test_import_refusals_through_the_api(world: World, api: Callable[..., APIClient]) -> None:
    empty = api("cadre_v1").post(
        "/api/v1/households/import/", {"file": _named(io.BytesIO(b""), "a.csv")}, format="multipart"
    )
    assert empty.status_code == 400
    role = api("approver_a").post(
        "/api/v1/households/import/",
        {"file": _named(as_csv(household_rows("1")), "a.csv")},
        format="multipart",
    )
    assert role.status_code == 403 and role.json()["code"] == Code.ROLE


def test_large_import_answers_202_and_is_followed(
    world: World, api: Callable[..., APIClient], settings: Any
) -> None:
    settings.FUPIN_IMPORT_INLINE_BYTES = 10
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    client = api("cadre_v1")

    response = client.post(
        "/api/v1/households/import/",
        {"file": _named(as_csv(household_rows("1")), "a.csv"), "dry_run": "false"},
        format="multipart",
    )

    # The immediate backend has run it by the time the answer is written.
    assert response.status_code in (201, 202)
    job = client.get(
        response.headers.get("Location") or f"/api/v1/household-imports/{response.json()['id']}/"
    ).json()
    assert job["status"] == "done" and job["applied"] is True


def _named(file: io.BytesIO, name: str) -> io.BytesIO:
    file.name = name
    return file


def test_an_administrator_reveals_nothing_without_the_grant(world: World) -> None:
    from django.contrib.auth import get_user_model

    world.household(VILLAGE_1)
    admin = get_user_model().objects.create_superuser("root_export", "", "x")

    with pytest.raises(Forbidden) as refused:
        households_export(actor=admin, params={}, fmt="csv", reveal=True)
    masked = households_export(actor=admin, params={}, fmt="csv")

    assert refused.value.code == Code.ROLE
    assert all("*" in row[3] for row in masked.rows)
