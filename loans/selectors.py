"""Reads of the loan app, scoped: the reference rate in force, the loans a user may see, the
fund's cover."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from django.db.models import Q, QuerySet, Sum

from applications.models import Application, Area, LoanRequest
from applications.roles import Role
from applications.selectors import bank_posts_of, has_role_in, is_everywhere, scope_prefixes
from common.actors import Actor
from loans.models import Loan, LoanParameters, ReferenceRate, SubsidyClaim

M = TypeVar("M", Loan, SubsidyClaim)

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


def loans_visible_to(user: Actor) -> QuerySet[Loan]:
    """The loans of the user's areas (cadres their villages, reviewers their township,
    county officials and inspectors the county), and a bank officer's loans of their bank
    in their counties."""
    return _scoped(user, Loan.objects.all())


def _scoped(user: Actor, qs: QuerySet[M]) -> QuerySet[M]:
    """``qs`` (of rows with an ``area_code`` and a ``bank``) in the user's scope."""
    if is_everywhere(user):
        return qs
    cond = Q()
    for prefix in scope_prefixes(user):
        cond |= Q(area_code__startswith=prefix)
    for bank_id, county in bank_posts_of(user):
        cond |= Q(area_code__startswith=county[:6], bank_id=bank_id)
    return qs.filter(cond) if cond else qs.none()


def subsidy_claims_visible_to(user: Actor) -> QuerySet[SubsidyClaim]:
    """The interest subsidy claims of the loans the user may see (``loans_visible_to``)."""
    return _scoped(user, SubsidyClaim.objects.all())


def fund_covered(county_code: str) -> Decimal:
    """What the county's fund covers now: the outstanding principal of its open covered
    loans, and the amounts banks granted that are not drawn yet (each approval reserves its
    room until the drawdown)."""
    prefix = county_code[:6]
    lent = Loan.objects.filter(
        area_code__startswith=prefix, covered=True, status__in=Loan.OPEN
    ).aggregate(total=Sum("outstanding_principal"))["total"]
    granted = LoanRequest.objects.filter(
        application__area_code__startswith=prefix,
        application__status=Application.Status.BANK_APPROVED,
    ).aggregate(total=Sum("approved_amount"))["total"]
    return (lent or Decimal("0.00")) + (granted or Decimal("0.00"))
