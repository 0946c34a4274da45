"""The payments of the reader's rounds as a sheet (``payments.exports``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from applications.models import Application
from audit.models import AuditEntry
from tests.factories import World

S = Application.Status
pytestmark = pytest.mark.django_db


def rows_of(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_every_line_of_the_rounds_exports_masked_and_audited(
    world: World, api: Callable[..., APIClient]
) -> None:
    paid = world.application(S.DISBURSED)
    round_ = paid.payment_lines.get().round

    response = api("finance_a").get("/api/v1/payment-rounds/export/", {"format": "csv"})

    assert response.status_code == 200
    rows = rows_of(response)
    assert [(r[0], r[3]) for r in rows[1:]] == [(round_.reference, str(paid.pk))]
    assert "*" in rows[1][5] and rows[1][6] == str(paid.amount)
    assert AuditEntry.objects.filter(action="payment.export", actor_name="finance_a").exists()
    assert (
        rows_of(api("finance_b").get("/api/v1/payment-rounds/export/", {"format": "csv"}))[1:] == []
    )


def test_bad_filters_are_field_errors(world: World, api: Callable[..., APIClient]) -> None:
    response = api("finance_a").get(
        "/api/v1/payment-rounds/export/", {"format": "csv", "status": "lost", "program": "x"}
    )

    assert response.status_code == 400
    assert "program" in response.json() or "status" in response.json()
