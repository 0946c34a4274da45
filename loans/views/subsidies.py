"""The county's interest subsidy page (贴息结算): settle a settlement day, see each
settlement's claims by bank (how many earned the subsidy, how many not and why), approve
them (a second official), record the county's transfer of bank claims, and print each
bank's list. Household claims are paid through the loan program's payment rounds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from applications.models import Area
from applications.roles import Role
from applications.selectors import has_role_in
from common import clock
from common.confirm import confirmation_page
from common.errors import InvalidInput, ServiceError
from loans.models import SubsidyClaim
from loans.selectors import subsidy_claims_visible_to
from loans.services.subsidies import (
    SETTLERS,
    subsidy_bank_transfer,
    subsidy_claims_approve,
    subsidy_settle,
)

C = SubsidyClaim.Status
READERS = (*SETTLERS, Role.INSPECTOR)
ACTIONS = ("settle", "approve", "transfer")
# What the page asks before the money steps (the buttons' ``data-confirm``).
QUESTIONS = {
    "approve": gettext_lazy("Approve every claim of this bank awaiting approval?"),
    "transfer": gettext_lazy("Record that the county paid this bank its approved claims?"),
}


def _counties(request: HttpRequest) -> list[Area]:
    return [
        a
        for a in Area.objects.filter(level=Area.Level.COUNTY).order_by("code")
        if any(has_role_in(request.user, role, a.code) for role in READERS)
    ]


def _amount(raw: str) -> Decimal:
    try:
        value = Decimal(raw.replace(",", "").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0:
        raise InvalidInput({"total": [_("Give the total of the signed list in yuan and fen.")]})
    return value


def _day(raw: str, field: str = "period_end") -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput({field: [_("Give the date as YYYY-MM-DD.")]}) from None


@login_required
@require_http_methods(["GET", "POST"])
def subsidies_page(request: HttpRequest) -> HttpResponse:
    counties = _counties(request)
    if not counties:
        raise Http404(_("This page is for the county's officials."))
    wanted = request.POST.get("county") or request.GET.get("county")
    county = next((c for c in counties if c.code == wanted), None if wanted else counties[0])
    if county is None:
        raise Http404(_("No such county in your area."))
    claims = subsidy_claims_visible_to(request.user).filter(area_code__startswith=county.prefix)
    errors: dict[str, list[str]] = {}
    kept: dict[str, str] = {}
    if request.method == "POST":
        kept = {k: request.POST.get(k, "") for k in request.POST if k != "csrfmiddlewaretoken"}
        question = QUESTIONS.get(kept.get("action", ""))
        if question is not None and (
            asked := confirmation_page(
                request, str(question), cancel_url=f"{request.path}?county={county.code}"
            )
        ):
            return asked
        try:
            done = _act(request, county, kept)
        except ServiceError as error:
            errors = (
                error.as_dict() if isinstance(error, InvalidInput) else {"detail": [error.message]}
            )
        else:
            messages.success(request, done)
            return redirect(
                f"{request.path}?county={county.code}&period_end={kept.get('period_end', '')}"
            )
    days = list(
        claims.values("period_end")
        .annotate(
            n=Count("pk"),
            total=Sum("amount"),
            pending=Count("pk", filter=Q(status=C.PENDING)),
            paid=Count("pk", filter=Q(status=C.PAID)),
        )
        .order_by("-period_end")[:40]
    )
    chosen = request.GET.get("period_end") or kept.get("period_end") or ""
    period: date | None = None
    if chosen:
        try:
            period = _day(chosen)
        except InvalidInput:
            period = None
    if period is None and days:
        period = days[0]["period_end"]
    banks: list[dict[str, Any]] = []
    rows: list[SubsidyClaim] = []
    if period is not None:
        chosen_claims = claims.filter(period_end=period)
        banks = list(
            chosen_claims.values("bank__code", "bank__name", "payee")
            .annotate(
                n=Count("pk"),
                eligible=Count("pk", filter=Q(reason="")),
                overdue=Count("pk", filter=Q(reason=SubsidyClaim.Reason.OVERDUE)),
                not_paid=Count("pk", filter=Q(reason=SubsidyClaim.Reason.NOT_PAID)),
                total=Sum("amount"),
                pending=Count("pk", filter=Q(status=C.PENDING)),
                approved=Count("pk", filter=Q(status=C.APPROVED)),
                paid=Count("pk", filter=Q(status=C.PAID)),
            )
            .order_by("bank__code", "payee")
        )
        rows = list(
            chosen_claims.select_related("loan__household", "bank").order_by(
                "bank__code", "area_code", "loan_id", "due_date"
            )[:200]
        )
    may_settle = any(has_role_in(request.user, role, county.code) for role in SETTLERS)
    return render(
        request,
        "loans/subsidies.html",
        {
            "county": county,
            "counties": counties,
            "days": days,
            "period": period,
            "banks": banks,
            "rows": rows,
            "may_settle": may_settle,
            "may_transfer": has_role_in(request.user, Role.FINANCE_OFFICER, county.code),
            "today": clock.today().isoformat(),
            "errors": errors,
            "kept": kept,
        },
        status=400 if errors else 200,
    )


def _act(request: HttpRequest, county: Area, kept: dict[str, str]) -> str:
    action = kept.get("action", "")
    if action not in ACTIONS:
        raise InvalidInput({"action": [_("Choose what to do.")]})
    period_end = _day(kept.get("period_end", ""))
    if action == "settle":
        outcome = subsidy_settle(actor=request.user, county_code=county.code, period_end=period_end)
        if not outcome.claims:
            return _("Nothing new to settle for %(day)s.") % {"day": period_end.isoformat()}
        return _("%(n)s claims settled, %(total)s yuan.") % {
            "n": outcome.claims,
            "total": outcome.total,
        }
    if action == "approve":
        approved = subsidy_claims_approve(
            actor=request.user,
            county_code=county.code,
            period_end=period_end,
            bank_code=kept.get("bank", ""),
            payee=kept.get("payee", ""),
        )
        return _("%(n)s claims approved, %(total)s yuan.") % {
            "n": approved.approved,
            "total": approved.total,
        }
    paid = subsidy_bank_transfer(
        actor=request.user,
        county_code=county.code,
        period_end=period_end,
        bank_code=kept.get("bank", ""),
        document_number=kept.get("document_number", ""),
        on=_day(kept.get("date", ""), "date"),
        total=_amount(kept.get("total", "")),
    )
    return _("%(n)s claims paid to the bank, %(total)s yuan.") % {
        "n": paid.claims,
        "total": paid.total,
    }
