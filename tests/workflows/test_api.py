"""``GET /api/v1/dashboard/`` (``workflows.api``): who has one, and what it holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from common.errors import Code
from tests.factories import World
from tests.workflows.test_dashboard import figures
from workflows.dashboard import dashboard_figures

pytestmark = pytest.mark.django_db


def test_cadres_and_banks_have_no_dashboard(world: World, api: Callable[..., APIClient]) -> None:
    response = api("cadre_v1").get("/api/v1/dashboard/")

    assert response.status_code == 403
    assert response.json()["code"] == Code.ROLE
    assert dashboard_figures(world.user("cadre_v1")) == []


def test_an_inspector_sees_the_leads_and_nobody_else_does(
    world: World, api: Callable[..., APIClient]
) -> None:
    assert "leads" in figures(api, "inspector_a")
    assert "leads" not in figures(api, "approver_a")
    assert "budget" not in figures(api, "reviewer_t1")
