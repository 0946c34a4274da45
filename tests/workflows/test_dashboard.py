"""The dashboard (``workflows.dashboard``): its figures agree with the API's lists, the page
draws each with its table, and the CSV writes the same table."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from applications.models import Application, Household
from tests.factories import TOWNSHIP_1, VILLAGE_1, VILLAGE_2, VILLAGE_3, World
from workflows.dashboard import STAGES, dashboard_figures

S = Application.Status
pytestmark = pytest.mark.django_db


def figures(api: Callable[..., APIClient], user: str) -> dict[str, dict[str, Any]]:
    response = api(user).get("/api/v1/dashboard/")
    assert response.status_code == 200
    return {f["key"]: f for f in response.json()["figures"]}


def count(api: Callable[..., APIClient], user: str, url: str, **params: str) -> int:
    return int(api(user).get(url, params).json()["count"])


@pytest.fixture
def county(world: World) -> dict[str, Any]:
    """Applications at several stages in two townships, and one paid."""
    made = {
        "posted": world.application(S.POSTED, area_code=VILLAGE_1),
        "township": world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_2),
        "county": world.application(S.COUNTY_REVIEW, area_code=VILLAGE_3),
        "draft": world.application(S.DRAFT, area_code=VILLAGE_3),
        "paid": world.application(S.DISBURSED, area_code=VILLAGE_1),
        "withdrawn": world.application(S.WITHDRAWN, area_code=VILLAGE_1),
    }
    world.household(VILLAGE_2)  # one that never applied
    return made


def test_stages_per_village_equal_the_api_counts_for_a_township_reviewer(
    world: World, api: Callable[..., APIClient], county: dict[str, Any]
) -> None:
    stages = figures(api, "reviewer_t1")["stages"]

    assert [r["code"] for r in stages["rows"]] == [VILLAGE_1, VILLAGE_2]
    for row in stages["rows"]:
        for (_key, _label, statuses), value in zip(STAGES, row["values"], strict=True):
            expected = count(
                api,
                "reviewer_t1",
                "/api/v1/applications/",
                status=",".join(statuses),
                area=row["code"],
            )
            assert value == expected, (row["code"], statuses)
    village_1 = dict(zip([k for k, _l, _s in STAGES], stages["rows"][0]["values"], strict=True))
    assert village_1["posted"] == 1 and village_1["paid"] == 1 and village_1["stopped"] == 1


def test_households_and_share_applying_equal_the_api_for_the_county(
    world: World, api: Callable[..., APIClient], county: dict[str, Any]
) -> None:
    found = figures(api, "approver_a")

    households = found["households"]
    total = sum(sum(r["values"]) for r in households["rows"])
    assert total == count(api, "approver_a", "/api/v1/households/")
    general = next(r for r in households["rows"] if r["code"] == Household.Kind.GENERAL)
    assert general["values"][0] == total  # all registered
    applying = next(r for r in found["applying"]["rows"] if r["code"] == world.program.code)
    # Six applications, one withdrawn: five households applied, of seven.
    assert applying["values"] == [5, 2]
    assert applying["note"] == "71.4 %"
    assert [r["code"] for r in found["stages"]["rows"]] == [
        TOWNSHIP_1,
        "620902101000",
    ]


def test_budget_is_the_program_s_and_what_the_bank_paid(
    world: World, api: Callable[..., APIClient], county: dict[str, Any]
) -> None:
    budget = figures(api, "finance_a")["budget"]

    row = next(r for r in budget["rows"] if r["code"] == world.program.code)
    world.program.refresh_from_db()
    paid = county["paid"].amount
    assert row["values"] == [
        str(world.program.budget),
        str(world.program.committed),
        str(paid),
    ]
    assert Decimal(row["values"][1]) >= paid


def test_the_home_page_draws_each_figure_beside_its_table(
    world: World, county: dict[str, Any]
) -> None:
    client = Client()
    client.force_login(world.user("approver_a"))

    page = client.get("/").content.decode()

    for figure in dashboard_figures(world.user("approver_a")):
        assert f'id="figure-{figure.key}"' in page
        assert f'data-figure="{figure.key}"' in page
        assert f"/dashboard/{figure.key}.csv" in page
    assert page.count("<svg viewBox=") >= 4
    assert "https://" not in page.split("<main>")[1].split("</main>")[0]  # nothing fetched


def test_the_csv_writes_the_figure_s_table(world: World, county: dict[str, Any]) -> None:
    client = Client()
    client.force_login(world.user("reviewer_t1"))

    response = client.get("/dashboard/stages.csv")

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    figure = next(f for f in dashboard_figures(world.user("reviewer_t1")) if f.key == "stages")
    assert rows[0] == [figure.row_title, *figure.series]
    assert rows[1:] == [[r.label, *(str(v) for v in r.values)] for r in figure.rows]
    assert client.get("/dashboard/nothing.csv").status_code == 404


def test_the_counts_are_of_the_last_refresh_and_the_timers_bring_them_up_to_date(
    world: World, api: Callable[..., APIClient], county: dict[str, Any]
) -> None:
    from django.core.management import call_command

    before = figures(api, "reviewer_t1")["stages"]["rows"][0]["values"]
    world.application(S.POSTED, area_code=VILLAGE_1)
    assert figures(api, "reviewer_t1")["stages"]["rows"][0]["values"] == before

    call_command("process_timers", stdout=io.StringIO())

    after = figures(api, "reviewer_t1")["stages"]["rows"][0]["values"]
    assert after[1] == before[1] + 1
    assert api("reviewer_t1").get("/api/v1/dashboard/").json()["as_of"]
