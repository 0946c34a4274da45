"""The loan pages so far: the calculator (a cadre works out, with the household, what a loan
of given terms costs month by month: the API's arithmetic, ``loans.api.calculate``) and the
county's risk-compensation fund (balance, movements, deposits)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from applications.selectors import has_role_in
from common.confirm import confirmation_page
from common.errors import InvalidInput, ServiceError
from loans.api import CalculatorInputSerializer, calculate, fund_figures
from loans.models import RiskFund
from loans.policy import METHOD_LABELS
from loans.schedules import DayCount
from loans.selectors import fund_counties
from loans.services.fund import FUND_ROLES, fund_deposit


@login_required
@require_safe
def calculator_page(request: HttpRequest) -> HttpResponse:
    asked = bool(request.GET)
    form = CalculatorInputSerializer(data=request.GET) if asked else None
    result: dict[str, Any] | None = None
    errors: dict[str, list[str]] = {}
    if form is not None:
        if form.is_valid():
            result = calculate(dict(form.validated_data))
        else:
            errors = {k: [str(m) for m in v] for k, v in form.errors.items()}
    return render(
        request,
        "loans/calculator.html",
        {
            "values": request.GET,
            "methods": [(m.value, label) for m, label in METHOD_LABELS.items()],
            "day_counts": [(d.value, d.value.replace("_", "/")) for d in DayCount],
            "result": result,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


# --- the county's risk-compensation fund --------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def fund_page(request: HttpRequest) -> HttpResponse:
    """The risk-compensation fund of the user's county: its balance, its movements, and a
    deposit form for the county approver and finance."""
    user = request.user
    counties = fund_counties(user)
    if not counties:
        raise Http404(_("No such fund in your area."))
    county = next((c for c in counties if c.code == request.GET.get("county")), counties[0])
    errors: dict[str, list[str]] = {}
    kept: dict[str, str] = {}
    if request.method == "POST":
        kept = {k: request.POST.get(k, "") for k in ("amount", "source", "document_number", "date")}
        if asked := confirmation_page(
            request,
            _("Record this deposit? Movements of the fund are never changed afterwards."),
            cancel_url=f"{request.path}?county={county.code}",
        ):
            return asked
        try:
            fund_deposit(
                actor=user,
                county_code=county.code,
                amount=_decimal(kept["amount"]),
                source=kept["source"],
                document_number=kept["document_number"],
                on=_date(kept["date"]),
            )
        except InvalidInput as error:
            errors = error.as_dict()
        except ServiceError as error:
            errors = {"detail": [error.message]}
        else:
            messages.success(request, _("The deposit is recorded."))
            return redirect(f"{request.path}?county={county.code}")
    fund = RiskFund.objects.filter(county=county).first()
    return render(
        request,
        "loans/fund.html",
        {
            "county": county,
            "counties": counties,
            **fund_figures(county.code, fund),
            "movements": list(fund.movements.select_related("created_by").order_by("-pk")[:200])
            if fund
            else [],
            "can_deposit": any(has_role_in(user, role, county.code) for role in FUND_ROLES),
            "errors": errors,
            "kept": kept,
        },
        status=400 if errors else 200,
    )


def _decimal(raw: str) -> Decimal:
    try:
        return Decimal(raw.strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidInput({"amount": [_("Give a positive amount in yuan and fen.")]}) from None


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput({"date": [_("Give the date as YYYY-MM-DD.")]}) from None
