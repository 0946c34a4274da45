"""Repayment schedules of a poverty microloan (扶贫小额信贷), pure arithmetic: no database.

Three methods (DOMAIN.md; issue 12):

- ``interest_only`` (按季付息，到期还本): interest on the 20th of March, June, September and
  December (the banks' quarterly interest days), and the principal with the last interest at
  maturity;
- ``equal_instalment`` (等额本息): the same total every month, from the annuity at the monthly
  rate (annual ÷ 12); each month's interest is the day count's, the principal the rest;
- ``equal_principal`` (等额本金): the same principal every month, interest on what is left.

Interest runs from the drawdown date under the program's day count: ``act_360`` (the actual
days ÷ 360, as Chinese banks count) or ``30_360`` (every month 30 days: a month's interest is
the annual rate ÷ 12). Every figure is rounded to the fen (half up), and the last instalment
takes whatever principal is left, so the principal always adds up to the loan.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

FEN = Decimal("0.01")
# The banks' quarterly interest days (结息日): the 20th of the last month of each quarter.
INTEREST_MONTHS = (3, 6, 9, 12)
INTEREST_DAY = 20


class Method(StrEnum):
    INTEREST_ONLY = "interest_only"
    EQUAL_INSTALMENT = "equal_instalment"
    EQUAL_PRINCIPAL = "equal_principal"


class DayCount(StrEnum):
    ACT_360 = "act_360"
    THIRTY_360 = "30_360"


@dataclass(frozen=True)
class Instalment:
    seq: int
    start: date  # interest runs from this day (included)
    due_date: date  # to this day (excluded), when it is due
    days: int  # under the day count
    principal: Decimal
    interest: Decimal
    balance_after: Decimal  # principal still owed after this instalment

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


def fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or the last day of that month when it is shorter
    (31 January + 1 month = 28 or 29 February)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def days_between(start: date, end: date, day_count: DayCount) -> int:
    """The days interest runs from ``start`` to ``end`` under the day count (30/360: the
    bond basis, a 31st counted as the 30th)."""
    if day_count == DayCount.ACT_360:
        return (end - start).days
    d1 = min(start.day, 30)
    d2 = min(end.day, 30) if d1 == 30 else end.day
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def interest_for(balance: Decimal, annual_rate: Decimal, days: int) -> Decimal:
    """Interest on ``balance`` at ``annual_rate`` percent for ``days`` of a 360-day year,
    rounded to the fen."""
    return fen(balance * annual_rate / Decimal(100) * Decimal(days) / Decimal(360))


def _interest_days(start: date, maturity: date) -> list[date]:
    """The quarterly interest days strictly between drawdown and maturity, then maturity."""
    out: list[date] = []
    year = start.year
    while True:
        for month in INTEREST_MONTHS:
            day = date(year, month, INTEREST_DAY)
            if day >= maturity:
                return [*out, maturity]
            if day > start:
                out.append(day)
        year += 1


def _monthly_payment(principal: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    """The annuity (等额本息) at the monthly rate, rounded to the fen."""
    rate = annual_rate / Decimal(100) / Decimal(12)
    if rate == 0:
        return fen(principal / months)
    growth = (1 + rate) ** months
    return fen(principal * rate * growth / (growth - 1))


def schedule(
    *,
    principal: Decimal,
    annual_rate: Decimal,
    months: int,
    method: Method | str,
    start: date,
    day_count: DayCount | str = DayCount.ACT_360,
) -> list[Instalment]:
    """The repayment schedule of a loan drawn on ``start``. ``ValueError`` for a principal
    that is not positive or not in fen, a negative rate, or a term under one month."""
    method, day_count = Method(method), DayCount(day_count)
    if principal <= 0 or principal != fen(principal):
        raise ValueError("the principal is a positive amount in fen")
    if annual_rate < 0:
        raise ValueError("the rate is not negative")
    if months < 1:
        raise ValueError("the term is at least one month")
    maturity = add_months(start, months)
    if method == Method.INTEREST_ONLY:
        dues = _interest_days(start, maturity)
    else:
        dues = [add_months(start, k) for k in range(1, months + 1)]
    payment = _monthly_payment(principal, annual_rate, months)
    even = fen(principal / months)
    out: list[Instalment] = []
    balance, previous = principal, start
    for seq, due in enumerate(dues, start=1):
        days = days_between(previous, due, day_count)
        interest = interest_for(balance, annual_rate, days)
        last = seq == len(dues)
        if last:
            part = balance
        elif method == Method.INTEREST_ONLY:
            part = Decimal("0.00")
        elif method == Method.EQUAL_INSTALMENT:
            part = min(balance, max(payment - interest, Decimal("0.00")))
        else:
            part = min(balance, even)
        balance -= part
        out.append(Instalment(seq, previous, due, days, part, interest, balance))
        previous = due
    return out
