"""The village cadre files a household's microloan application, with the calculator beside
the form: the same terms' repayments at today's reference rate, to show the household what
it will repay before it signs anything."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from applications.models import Bank, Household, Program, ProgramVersion
from applications.roles import Role
from applications.selectors import has_role_in, households_visible_to, programs_visible_to
from applications.services import program_version_current
from approvals.services.filing import application_create
from common import clock
from common.errors import InvalidInput, ServiceError
from loans.api import calculate
from loans.models import LoanParameters
from loans.policy import METHOD_LABELS, PURPOSES
from loans.selectors import reference_kind, reference_rate_on

FIELDS = ("amount", "months", "purpose_category", "purpose", "repayment_method", "bank")


def _household(request: HttpRequest, pk: int) -> Household:
    household = households_visible_to(request.user).filter(pk=pk).first()
    if household is None or not has_role_in(request.user, Role.VILLAGE_CADRE, household.area_code):
        raise Http404(_("No such household in your village."))
    return household


def loan_programs(user: Any, household: Household) -> list[Program]:
    """The active loan programs of the household's county."""
    return list(
        programs_visible_to(user)
        .filter(kind=Program.Kind.LOAN, active=True, area__code=household.area_code[:6] + "000000")
        .order_by("name")
    )


def _preview(
    version: ProgramVersion, params: LoanParameters, kept: dict[str, str]
) -> dict[str, Any] | None:
    """The repayments of the terms typed so far at today's reference rate (None while the
    terms are incomplete or out of range)."""
    try:
        amount = Decimal(kept.get("amount", "").replace(",", "").strip())
        months = int(kept.get("months", "").strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    method = kept.get("repayment_method", "")
    if not (
        0 < amount <= version.household_cap
        and 0 < months <= 360
        and method in params.repayment_methods
    ):
        return None
    rate = reference_rate_on(reference_kind(params.rate_rule, months), clock.today())
    if rate is None or amount != amount.quantize(Decimal("0.01")):
        return None
    result = calculate(
        {
            "principal": amount,
            "annual_rate": rate.rate,
            "months": months,
            "method": method,
            "day_count": params.day_count,
        }
    )
    return {**result, "rate": rate}


@login_required
@require_http_methods(["GET", "POST"])
def loan_apply(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household(request, pk)
    programs = loan_programs(request.user, household)
    source = request.POST if request.method == "POST" else request.GET
    program = next((p for p in programs if str(p.pk) == source.get("program")), None)
    if program is None and len(programs) == 1:
        program = programs[0]
    version: ProgramVersion | None = None
    params: LoanParameters | None = None
    if program is not None:
        try:
            version = program_version_current(program)
        except InvalidInput as exc:
            messages.error(request, exc.message)
        else:
            params = LoanParameters.objects.filter(version=version).first()
    kept = {name: source.get(name, "") for name in FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and program is not None and "file" in request.POST:
        try:
            app = application_create(
                actor=request.user, household_id=household.pk, program_id=program.pk, loan=kept
            )
        except InvalidInput as exc:
            errors = exc.as_dict()
        except ServiceError as exc:
            errors = {"detail": [exc.message]}
        else:
            messages.success(
                request, _("Loan application filed: %(amount)s yuan.") % {"amount": app.amount}
            )
            return redirect("workflows:cadre_application", pk=app.pk)
    county = household.area_code[:6] + "000000"
    return render(
        request,
        "loans/apply.html",
        {
            "household": household,
            "programs": programs,
            "program": program,
            "version": version,
            "params": params,
            "purposes": [
                (code, PURPOSES[code])
                for code in (params.allowed_purposes if params else [])
                if code in PURPOSES
            ],
            "methods": [
                (m.value, label)
                for m, label in METHOD_LABELS.items()
                if params and m.value in params.repayment_methods
            ],
            "banks": list(
                Bank.objects.filter(officers__county_id=county).distinct().order_by("name")
            ),
            "kept": kept,
            "preview": _preview(version, params, kept) if version and params else None,
            "errors": errors,
        },
        status=400 if errors else 200,
    )
