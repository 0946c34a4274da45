"""``loans.schedules``: each method against figures worked out by hand (in the comments),
the fen rounding, the last instalment taking the remainder, and month ends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from loans.schedules import DayCount, Method, add_months, days_between, schedule

D = Decimal


def test_interest_only_pays_interest_on_the_quarter_days_and_principal_at_maturity() -> None:
    # 50,000 yuan at 4.35% drawn on 5 January 2026 for 12 months, actual/360:
    # 2175 yuan a year of 360 days, 6.041666… a day.
    rows = schedule(
        principal=D("50000.00"),
        annual_rate=D("4.35"),
        months=12,
        method=Method.INTEREST_ONLY,
        start=date(2026, 1, 5),
        day_count=DayCount.ACT_360,
    )

    assert [(r.due_date, r.days, r.interest, r.principal) for r in rows] == [
        (date(2026, 3, 20), 74, D("447.08"), D("0.00")),  # 31 + 28 + 15 days
        (date(2026, 6, 20), 92, D("555.83"), D("0.00")),
        (date(2026, 9, 20), 92, D("555.83"), D("0.00")),
        (date(2026, 12, 20), 91, D("549.79"), D("0.00")),
        (date(2027, 1, 5), 16, D("96.67"), D("50000.00")),
    ]
    assert rows[-1].balance_after == 0
    assert rows[0].start == date(2026, 1, 5) and rows[1].start == date(2026, 3, 20)


def test_equal_instalments_are_the_published_annuity() -> None:
    # 100,000 yuan, 36 months, 4.75%: the banks' tables give 2,985.88 a month
    # (100000 × r × (1+r)^36 / ((1+r)^36 − 1), r = 4.75% / 12 = 0.395833…%).
    rows = schedule(
        principal=D("100000.00"),
        annual_rate=D("4.75"),
        months=36,
        method=Method.EQUAL_INSTALMENT,
        start=date(2026, 1, 15),
        day_count=DayCount.THIRTY_360,
    )

    assert len(rows) == 36
    assert {r.total for r in rows[:-1]} == {D("2985.88")}
    # Month 1: interest 100000 × 0.395833…% = 395.83, principal 2985.88 − 395.83.
    assert (rows[0].interest, rows[0].principal) == (D("395.83"), D("2590.05"))
    # Month 2: interest on 97,409.95 = 385.58.
    assert (rows[1].interest, rows[1].principal) == (D("385.58"), D("2600.30"))
    assert sum(r.principal for r in rows) == D("100000.00")
    assert abs(rows[-1].total - D("2985.88")) < D("0.10")  # the remainder of the rounding
    assert rows[-1].due_date == date(2029, 1, 15)


def test_equal_principal_pays_the_same_principal_and_falling_interest() -> None:
    # 120,000 yuan, 12 months, 4.35%, 30/360: 10,000 a month; interest 0.3625% a month
    # of what is left: 435.00, 398.75, … 36.25; in all 0.003625 × 10000 × 78 = 2827.50.
    rows = schedule(
        principal=D("120000.00"),
        annual_rate=D("4.35"),
        months=12,
        method=Method.EQUAL_PRINCIPAL,
        start=date(2026, 3, 10),
        day_count=DayCount.THIRTY_360,
    )

    assert {r.principal for r in rows} == {D("10000.00")}
    assert [r.interest for r in rows[:2]] == [D("435.00"), D("398.75")]
    assert rows[-1].interest == D("36.25")
    assert sum(r.interest for r in rows) == D("2827.50")


def test_an_uneven_principal_leaves_the_remainder_to_the_last_instalment() -> None:
    # 10,000 over 3 months: 3,333.33, 3,333.33, then 3,333.34.
    rows = schedule(
        principal=D("10000.00"),
        annual_rate=D("0"),
        months=3,
        method="equal_principal",
        start=date(2026, 5, 1),
    )

    assert [r.principal for r in rows] == [D("3333.33"), D("3333.33"), D("3333.34")]
    assert all(r.interest == 0 for r in rows)


def test_month_ends_and_day_counts() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert days_between(date(2026, 1, 15), date(2026, 2, 15), DayCount.THIRTY_360) == 30
    assert days_between(date(2026, 1, 15), date(2026, 2, 15), DayCount.ACT_360) == 31
    assert days_between(date(2026, 1, 31), date(2026, 3, 31), DayCount.THIRTY_360) == 60


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (D("0"), D("4.35"), 12),
        (D("100.001"), D("4.35"), 12),
        (D("100"), D("-1"), 12),
        (D("100"), D("4.35"), 0),
    ],
)
def test_impossible_loans_are_refused(principal: Decimal, rate: Decimal, months: int) -> None:
    with pytest.raises(ValueError):
        schedule(
            principal=principal,
            annual_rate=rate,
            months=months,
            method=Method.EQUAL_INSTALMENT,
            start=date(2026, 1, 1),
        )
