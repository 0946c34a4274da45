"""Reads of the loan app: the reference rate in force."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from django.db.models import QuerySet

from loans.models import ReferenceRate

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
