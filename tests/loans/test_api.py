"""The loan calculator through the API and its page: the same schedule as
``loans.schedules``, bad figures refused with the field named."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import World

pytestmark = pytest.mark.django_db
URL = "/api/v1/loan-calculator/"


def test_the_calculator_answers_the_schedule_and_totals(
    world: World, api: Callable[..., APIClient]
) -> None:
    response = api("cadre_v1").get(
        URL,
        {
            "principal": "100000",
            "annual_rate": "4.75",
            "months": "36",
            "method": "equal_instalment",
            "start": "2026-01-15",
            "day_count": "30_360",
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert len(body["schedule"]) == 36
    assert body["schedule"][0]["total"] == "2985.88"
    assert body["schedule"][0]["due_date"] == "2026-02-15"
    assert Decimal(body["total"]) - Decimal(body["total_interest"]) == Decimal("100000.00")


@pytest.mark.parametrize(
    ("field", "value"),
    [("principal", "-5"), ("principal", "abc"), ("months", "0"), ("method", "balloon")],
)
def test_bad_figures_are_refused_with_the_field(
    world: World, api: Callable[..., APIClient], field: str, value: str
) -> None:
    params = {
        "principal": "50000",
        "annual_rate": "4.35",
        "months": "12",
        "method": "equal_principal",
    }

    response = api("cadre_v1").get(URL, {**params, field: value})

    assert response.status_code == 400
    assert field in response.json()


def test_the_calculator_needs_a_sign_in(world: World) -> None:
    assert APIClient().get(URL, {"principal": "1"}).status_code in (401, 403)


def test_the_calculator_page_shows_the_schedule(world: World) -> None:
    client = Client()
    client.force_login(world.user("cadre_v1"))

    page = client.get(
        "/loans/calculator/",
        {
            "principal": "50000",
            "annual_rate": "4.35",
            "months": "12",
            "method": "interest_only",
            "start": "2026-01-05",
            "day_count": "act_360",
        },
    )
    bad = client.get(
        "/loans/calculator/",
        {"principal": "x", "annual_rate": "4", "months": "1", "method": "interest_only"},
    )

    body = page.content.decode()
    assert page.status_code == 200
    assert "447.08" in body and "2027-01-05" in body
    assert "年利率" in body and "按季付息，到期还本" in body
    assert bad.status_code == 400
