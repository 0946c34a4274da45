"""Reads of the loan app: the reference rate in force."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from django.db.models import QuerySet

from applications.models import Area
from applications.roles import Role
from applications.selectors import has_role_in
from common.actors import Actor
from loans.models import LoanParameters, ReferenceRate

K = ReferenceRate.Kind


class RateRule(StrEnum):
    """Which published rate a program's loans are priced on."""

    BENCHMARK = "benchmark"
    LPR = "lpr"


def reference_rates(kind: str | None = None) -> QuerySet[ReferenceRate]:
    qs = ReferenceRate.objects.select_related("created_by")
    return qs.filter(kind=kind) if kind else qs


def reference_rate_on(kind: str, on: date) -> ReferenceRate | None:
    """The rate of ``kind`` in force on ``on`` (the last that took effect by then)."""
    return (
        ReferenceRate.objects.filter(kind=kind, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )


def reference_kind(rule: RateRule | str, months: int) -> str:
    """The rate a loan of ``months`` is priced on: up to twelve months the one-year rate,
    longer terms the one-to-five-year benchmark or the over-five-year LPR."""
    short = months <= 12
    if RateRule(rule) == RateRule.BENCHMARK:
        return K.BENCHMARK_1Y if short else K.BENCHMARK_1_5Y
    return K.LPR_1Y if short else K.LPR_5Y


def fund_leverage(county_code: str, on: date) -> Decimal | None:
    """How many times its balance the county's fund covers: the leverage of the county's
    active loan program's parameters in force on ``on`` (None without one)."""
    params = (
        LoanParameters.objects.filter(
            version__program__area_id=county_code,
            version__program__active=True,
            version__effective_from__lte=on,
        )
        .order_by("-version__effective_from", "-pk")
        .first()
    )
    return params.leverage if params is not None else None


def fund_capacity(balance: Decimal, leverage: Decimal | None, covered: Decimal) -> Decimal | None:
    """What banks may still lend under the fund: leverage × balance − the outstanding
    principal of the loans it covers (never below zero; None without a leverage)."""
    if leverage is None:
        return None
    return max(leverage * balance - covered, Decimal("0.00")).quantize(Decimal("0.01"))


# Who reads a county's risk fund: its officials, inspectors and bank officers.
FUND_READERS = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER, Role.INSPECTOR, Role.BANK_OFFICER)


def fund_readable(user: Actor, county_code: str) -> bool:
    return any(has_role_in(user, role, county_code) for role in FUND_READERS)


def fund_counties(user: Actor) -> list[Area]:
    """The counties whose fund the user may read."""
    return [
        a
        for a in Area.objects.filter(level=Area.Level.COUNTY).order_by("code")
        if fund_readable(user, a.code)
    ]
