"""Reference rates: the published values seeded by the migration, the rate in force on a
day, the rule by term, and recording a new one (who may, once per kind and day, audited)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, Refused
from loans.models import ReferenceRate
from loans.selectors import RateRule, reference_kind, reference_rate_on
from loans.services.rates import reference_rate_add
from tests.factories import World

pytestmark = pytest.mark.django_db
K = ReferenceRate.Kind


@pytest.mark.parametrize(
    ("kind", "on", "rate"),
    [
        (K.BENCHMARK_1Y, date(2026, 12, 4), "4.35"),
        (K.BENCHMARK_1_5Y, date(2026, 12, 4), "4.75"),
        (K.LPR_1Y, date(2019, 8, 20), "4.25"),
        (K.LPR_1Y, date(2020, 3, 31), "4.05"),
        (K.LPR_5Y, date(2022, 6, 1), "4.45"),
        (K.LPR_5Y, date(2024, 10, 20), "3.85"),  # the day before the October 2024 cut
        (K.LPR_1Y, date(2026, 12, 4), "3.00"),
        (K.LPR_5Y, date(2026, 12, 4), "3.50"),
    ],
)
def test_the_published_rate_in_force_on_a_day(kind: str, on: date, rate: str) -> None:
    found = reference_rate_on(kind, on)

    assert found is not None and found.rate == Decimal(rate)
    assert found.source


def test_no_lpr_before_it_was_first_published() -> None:
    assert reference_rate_on(K.LPR_1Y, date(2019, 8, 19)) is None


@pytest.mark.parametrize(
    ("rule", "months", "kind"),
    [
        ("benchmark", 12, K.BENCHMARK_1Y),
        ("benchmark", 36, K.BENCHMARK_1_5Y),
        (RateRule.LPR, 6, K.LPR_1Y),
        (RateRule.LPR, 13, K.LPR_5Y),
    ],
)
def test_the_rate_a_term_is_priced_on(rule: str, months: int, kind: str) -> None:
    assert reference_kind(rule, months) == kind


def test_a_county_approver_records_a_new_rate_once(world: World) -> None:
    approver = world.user("approver_a")

    row = reference_rate_add(
        actor=approver,
        kind=K.LPR_1Y,
        effective_from=date(2026, 12, 22),
        rate=Decimal("2.90"),
        source="全国银行间同业拆借中心公告",
    )
    with pytest.raises(Refused) as twice:
        reference_rate_add(
            actor=approver,
            kind=K.LPR_1Y,
            effective_from=date(2026, 12, 22),
            rate=Decimal("2.80"),
            source="公告",
        )

    assert twice.value.code == Code.RATE_EXISTS
    assert reference_rate_on(K.LPR_1Y, date(2026, 12, 31)) == row
    entry = AuditEntry.objects.get(action="reference_rate.add")
    assert entry.actor_name == "approver_a" and entry.changes["rate"] == [None, "2.90"]


def test_only_an_admin_or_a_county_approver_records_rates(world: World) -> None:
    with pytest.raises(Forbidden) as refused:
        reference_rate_add(
            actor=world.user("finance_a"),
            kind=K.LPR_1Y,
            effective_from=date(2026, 12, 22),
            rate=Decimal("2.90"),
            source="公告",
        )

    assert refused.value.code == Code.ROLE
    assert not ReferenceRate.objects.filter(effective_from=date(2026, 12, 22)).exists()


@pytest.mark.parametrize(
    ("rate", "source"), [(Decimal("-0.1"), "公告"), (Decimal("40"), "公告"), (Decimal("3"), " ")]
)
def test_a_bad_rate_or_no_source_is_refused(world: World, rate: Decimal, source: str) -> None:
    with pytest.raises(InvalidInput):
        reference_rate_add(
            actor=world.user("approver_a"),
            kind=K.LPR_5Y,
            effective_from=date(2026, 12, 22),
            rate=rate,
            source=source,
        )


def test_reference_rates_through_the_api(world: World, api: Callable[..., APIClient]) -> None:
    listed = api("cadre_v1").get("/api/v1/reference-rates/?kind=lpr_5y")
    added = api("approver_a").post(
        "/api/v1/reference-rates/",
        {"kind": "lpr_5y", "effective_from": "2026-12-22", "rate": "3.40", "source": "公告"},
        format="json",
    )
    twice = api("approver_a").post(
        "/api/v1/reference-rates/",
        {"kind": "lpr_5y", "effective_from": "2026-12-22", "rate": "3.30", "source": "公告"},
        format="json",
    )
    cadre = api("cadre_v1").post(
        "/api/v1/reference-rates/",
        {"kind": "lpr_5y", "effective_from": "2026-12-23", "rate": "3.30", "source": "公告"},
        format="json",
    )
    bad_kind = api("cadre_v1").get("/api/v1/reference-rates/?kind=libor")

    assert listed.status_code == 200
    assert listed.json()["results"][0]["rate"] == "3.5000"
    assert added.status_code == 201 and added.json()["created_by"] == "approver_a"
    assert (twice.status_code, twice.json()["code"]) == (409, "rate_exists")
    assert (cadre.status_code, cadre.json()["code"]) == (403, "role")
    assert bad_kind.status_code == 400
