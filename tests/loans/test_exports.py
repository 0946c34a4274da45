"""The microloans' list as a sheet (``loans.exports``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.factories import World
from tests.loans.conftest import LoanWorld

pytestmark = pytest.mark.django_db


def rows_of(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_loans_list_exports_with_its_filters_and_is_audited(
    world: World, loans: LoanWorld, api: Callable[..., APIClient]
) -> None:
    loan = loans.loan()

    response = api("approver_a").get("/api/v1/loans/export/", {"format": "csv"})
    none_overdue = api("approver_a").get(
        "/api/v1/loans/export/", {"format": "csv", "overdue": "true"}
    )

    assert response.status_code == 200
    rows = rows_of(response)
    assert [r[0] for r in rows[1:]] == [loan.reference]
    assert "*" in rows[1][4] and rows[1][5] == str(loan.principal)
    assert len(rows_of(none_overdue)) == 1
    entry = AuditEntry.objects.filter(action="loan.export").latest("seq")
    assert entry.changes["filters"] == [None, {"overdue": "true"}]


def test_another_county_s_officer_exports_none_of_them(
    world: World, loans: LoanWorld, api: Callable[..., APIClient]
) -> None:
    loans.loan()

    response = api("approver_b").get("/api/v1/loans/export/", {"format": "csv"})

    assert rows_of(response)[1:] == []
