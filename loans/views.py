"""The loan calculator page: a cadre works out, with the household, what a loan of given
terms costs month by month (the API's arithmetic, ``loans.api.calculate``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from loans.api import CalculatorInputSerializer, calculate
from loans.schedules import DayCount, Method

METHOD_LABELS = {
    Method.INTEREST_ONLY: _("interest quarterly, principal at maturity"),
    Method.EQUAL_INSTALMENT: _("equal instalments"),
    Method.EQUAL_PRINCIPAL: _("equal principal"),
}


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
