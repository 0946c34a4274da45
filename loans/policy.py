"""Pure rules of microloans: the purposes, and what a program version's loan parameters
must say. No writes; each problem a sentence the user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from applications.models import Household
from loans.schedules import DayCount, Method

# Productive uses a microloan is for (用于发展生产), by code.
PRODUCTIVE_PURPOSES = {
    "crops": gettext_lazy("crops (种植业)"),
    "livestock": gettext_lazy("livestock (养殖业)"),
    "processing": gettext_lazy("processing of farm products (农产品加工)"),
    "tourism": gettext_lazy("rural tourism (乡村旅游)"),
    "trade": gettext_lazy("small trade (商贸流通)"),
    "handicraft": gettext_lazy("handicraft (手工业)"),
    "other_productive": gettext_lazy("other productive use (其他生产经营)"),
}
# What later rules forbid (入股分红, 转贷, 建房, 婚嫁, 理财, 购置家庭用品).
FORBIDDEN_PURPOSES = {
    "equity_dividend": gettext_lazy("shares for dividends (入股分红)"),
    "relending": gettext_lazy("lending on (转贷)"),
    "housing": gettext_lazy("building a house (建房)"),
    "wedding": gettext_lazy("weddings (婚嫁)"),
    "investment": gettext_lazy("financial investment (理财)"),
    "household_goods": gettext_lazy("household goods (购置家庭用品)"),
}
PURPOSES = {**PRODUCTIVE_PURPOSES, **FORBIDDEN_PURPOSES}
# How a loan is repaid, in words.
METHOD_LABELS = {
    Method.INTEREST_ONLY: gettext_lazy("interest quarterly, principal at maturity"),
    Method.EQUAL_INSTALMENT: gettext_lazy("equal instalments"),
    Method.EQUAL_PRINCIPAL: gettext_lazy("equal principal"),
}
# What a version's parameters default to: every productive use; the later rules' bans.
DEFAULT_ALLOWED = tuple(PRODUCTIVE_PURPOSES)
DEFAULT_FORBIDDEN = tuple(FORBIDDEN_PURPOSES)
DEFAULT_ELIGIBLE = (Household.Status.REGISTERED, Household.Status.RETURNED)
DEFAULT_METHODS = tuple(m.value for m in Method)


def parameter_problems(
    values: Mapping[str, Any], *, max_months: int | None
) -> dict[str, list[str]]:
    """What is wrong with a version's loan parameters (empty: nothing), by field: the
    borrower's ages, known household statuses, repayment methods and purposes, a purpose
    both allowed and forbidden, the day count, and a settlement at maturity only for
    terms of twelve months or less."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if int(values.get("min_age", 18)) >= int(values.get("max_age", 65)):
        add("max_age", _("The oldest borrower's age must be above the youngest's."))
    for status in _list(values.get("eligible_statuses", DEFAULT_ELIGIBLE)):
        if status not in Household.Status.values:
            add("eligible_statuses", _("Unknown household status: %(s)s") % {"s": status})
    methods = _list(values.get("repayment_methods", DEFAULT_METHODS))
    if not methods:
        add("repayment_methods", _("Allow at least one repayment method."))
    for method in methods:
        if method not in Method.__members__.values():
            add("repayment_methods", _("Unknown repayment method: %(m)s") % {"m": method})
    allowed = _list(values.get("allowed_purposes", DEFAULT_ALLOWED))
    forbidden = _list(values.get("forbidden_purposes", DEFAULT_FORBIDDEN))
    for field, codes in (("allowed_purposes", allowed), ("forbidden_purposes", forbidden)):
        for code in codes:
            if code not in PURPOSES:
                add(field, _("Unknown purpose: %(p)s") % {"p": code})
    for code in set(allowed) & set(forbidden):
        add("allowed_purposes", _("A purpose is both allowed and forbidden: %(p)s") % {"p": code})
    if values.get("day_count", DayCount.ACT_360) not in DayCount.__members__.values():
        add("day_count", _("Choose act_360 or 30_360."))
    if values.get("settlement") == "at_maturity" and (max_months is None or max_months > 12):
        add(
            "settlement",
            _("Interest is settled at maturity only for terms of 12 months or less."),
        )
    return problems


def _list(value: Iterable[Any] | None) -> list[str]:
    return [str(v) for v in (value or [])]
