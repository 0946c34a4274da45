"""The bank officer's desk (银行信贷员): the credit decisions waiting (applications the county
approved), the drawdowns waiting (granted, with the signed contract to upload), the overdue
loans and those the fund may compensate, the repayment file; and the page of one loan
application at the bank and of one loan (its schedule, repayments, claims, the forms to
service it)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from applications.models import Application, LoanRequest
from applications.selectors import bank_posts_of, bank_scope
from approvals.models import Attachment
from approvals.services.attachments import attachment_add
from approvals.services.transitions import application_transition
from common import clock
from common.confirm import confirmation_page
from common.errors import InvalidInput, ServiceError
from loans.models import Loan, LoanParameters, RiskFund, SubsidyClaim
from loans.selectors import (
    fund_capacity,
    fund_covered,
    fund_leverage,
    loans_visible_to,
    reference_kind,
    reference_rate_on,
)
from loans.services.lending import loan_approve, loan_drawdown
from loans.services.servicing import (
    RECOVERABLE,
    loan_compensate,
    loan_recover,
    loan_repay,
    loan_write_off,
    repayments_import,
)

S = Application.Status
LIST_LIMIT = 200


def _posts(request: HttpRequest) -> list[tuple[int, str]]:
    posts = bank_posts_of(request.user)
    if not posts:
        raise Http404(_("This page is for banks' loan officers."))
    return posts


def _desk_applications(request: HttpRequest) -> QuerySet[Application]:
    cond = bank_scope(request.user)
    if cond is None:
        raise Http404(_("This page is for banks' loan officers."))
    return Application.objects.filter(cond).select_related("household", "loan__bank", "program")


def _errors(error: ServiceError) -> dict[str, list[str]]:
    return error.as_dict() if isinstance(error, InvalidInput) else {"detail": [error.message]}


@login_required
@require_http_methods(["GET", "POST"])
def bank_desk(request: HttpRequest) -> HttpResponse:
    """What waits for the officer's bank, and the bank's repayment file."""
    _posts(request)
    apps = _desk_applications(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is not None and (
            asked := confirmation_page(
                request,
                _("Apply every repayment in this file?"),
                cancel_url=reverse("loans:bank"),
            )
        ):
            return asked
        try:
            if upload is None:
                raise InvalidInput({"file": [_("Choose the bank's repayment file.")]})
            outcome = repayments_import(
                actor=request.user, data=upload.read(), name=upload.name or ""
            )
        except ServiceError as error:
            errors = _errors(error)
        else:
            messages.success(
                request,
                (
                    _("This file was applied before: nothing changed.")
                    if outcome.already_imported
                    else _("%(rows)s repayments applied, %(total)s yuan.")
                    % {"rows": outcome.rows, "total": outcome.total}
                ),
            )
            return redirect("loans:bank")
    loans = loans_visible_to(request.user).select_related("household", "bank")
    reference = request.GET.get("q", "").strip()
    if reference:
        found = loans.filter(Q(reference=reference) | Q(household__head_name=reference)).first()
        if found is not None:
            return redirect("loans:loan", pk=found.pk)
        messages.error(request, _("No loan of yours has that reference or borrower."))
    overdue = list(loans.filter(status=Loan.Status.OVERDUE).order_by("-days_past_due")[:LIST_LIMIT])
    after = dict(
        LoanParameters.objects.filter(
            version_id__in={loan.program_version_id for loan in overdue}
        ).values_list("version_id", "compensation_after_days")
    )
    return render(
        request,
        "loans/bank_desk.html",
        {
            "decisions": list(apps.filter(status=S.APPROVED).order_by("pk")[:LIST_LIMIT]),
            "drawdowns": list(apps.filter(status=S.BANK_APPROVED).order_by("pk")[:LIST_LIMIT]),
            "overdue": [
                (loan, loan.days_past_due >= after.get(loan.program_version_id, 90))
                for loan in overdue
            ],
            "active": loans.filter(status__in=Loan.OPEN).count(),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _request_page(
    request: HttpRequest, app: Application, errors: dict[str, list[str]], kept: dict[str, str]
) -> HttpResponse:
    loan_request: LoanRequest = app.loan
    county = app.area_code[:6] + "000000"
    params = LoanParameters.objects.filter(version=app.program_version).first()
    reference = (
        reference_rate_on(reference_kind(params.rate_rule, loan_request.months), clock.today())
        if params
        else None
    )
    leverage = fund_leverage(county, clock.today())
    fund = RiskFund.objects.filter(county_id=county).first()
    balance = fund.balance if fund else Decimal("0.00")
    capacity = fund_capacity(balance, leverage, fund_covered(county))
    contracts = Attachment.objects.filter(
        application=app, kind=Attachment.Kind.LOAN_CONTRACT
    ).order_by("-pk")
    return render(
        request,
        "loans/bank_application.html",
        {
            "app": app,
            "request_": loan_request,
            "household": app.household,
            "reference": reference,
            "spread": params.rate_spread_max if params else None,
            "capacity": capacity,
            "contracts": list(contracts),
            "today": clock.today().isoformat(),
            "errors": errors,
            "kept": kept,
        },
        status=400 if errors else 200,
    )


def _desk_application(request: HttpRequest, pk: int) -> Application:
    app = _desk_applications(request).filter(pk=pk).first()
    if app is None:
        raise Http404(_("No such application in your area."))
    return app


@login_required
@require_safe
def bank_application(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_page(request, _desk_application(request, pk), {}, {})


ACTIONS = ("approve", "decline", "contract", "drawdown")
# What the page asks before the steps that cannot be undone (the buttons' ``data-confirm``).
APPLICATION_QUESTIONS = {
    "decline": gettext_lazy("Decline this loan application? This cannot be undone."),
    "drawdown": gettext_lazy("Draw this loan down? The loan and its schedule are made now."),
}


@login_required
@require_POST
def bank_application_act(request: HttpRequest, pk: int) -> HttpResponse:
    """The bank's step on a loan application: its credit decision (approve with its terms,
    or decline with the reason), the signed contract's scan, the drawdown."""
    app = _desk_application(request, pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise Http404
    kept = {k: request.POST.get(k, "") for k in request.POST if k != "csrfmiddlewaretoken"}
    question = APPLICATION_QUESTIONS.get(action)
    if (
        question is not None
        and (action != "decline" or kept.get("reason", "").strip())
        and (
            asked := confirmation_page(
                request,
                str(question),
                cancel_url=reverse("loans:bank_application", args=[app.pk]),
            )
        )
    ):
        return asked
    try:
        if action == "approve":
            loan_approve(
                actor=request.user,
                application_id=app.pk,
                terms={
                    "approved_amount": kept.get("approved_amount", ""),
                    "annual_rate": kept.get("annual_rate", ""),
                    "months": kept.get("months", ""),
                },
            )
            messages.success(request, _("The loan is granted; upload the signed contract."))
        elif action == "decline":
            application_transition(
                actor=request.user,
                application_id=app.pk,
                name="bank_decline",
                reason=kept.get("reason", ""),
            )
            messages.success(request, _("The application is declined."))
            return redirect("loans:bank")
        elif action == "contract":
            upload = request.FILES.get("file")
            if upload is None:
                raise InvalidInput({"file": [_("Choose the scan of the signed contract.")]})
            attachment_add(
                actor=request.user,
                application_id=app.pk,
                kind=Attachment.Kind.LOAN_CONTRACT,
                file=upload,
            )
            messages.success(request, _("The signed contract is on the record."))
        else:
            loan = loan_drawdown(
                actor=request.user,
                application_id=app.pk,
                on=_day(kept.get("date", "")),
                amount=kept.get("amount", ""),
            )
            messages.success(request, _("The loan is drawn: %(ref)s.") % {"ref": loan.reference})
            return redirect("loans:loan", pk=loan.pk)
    except ServiceError as error:
        app.refresh_from_db()
        return _request_page(request, app, _errors(error), kept)
    return redirect("loans:bank_application", pk=app.pk)


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput({"date": [_("Give the date as YYYY-MM-DD.")]}) from None


# --- one loan ------------------------------------------------------------------------------


def _loan_page(
    request: HttpRequest, loan: Loan, errors: dict[str, list[str]], kept: dict[str, str]
) -> HttpResponse:
    is_lender = (loan.bank_id, loan.area_code[:6] + "000000") in bank_posts_of(request.user)
    return render(
        request,
        "loans/loan.html",
        {
            "loan": loan,
            "instalments": list(loan.instalments.order_by("seq")),
            "repayments": list(loan.repayments.select_related("created_by").order_by("-pk")),
            "claims": list(
                SubsidyClaim.objects.filter(loan=loan)
                .order_by("due_date")
                .select_related("instalment")
            ),
            "movements": list(loan.fund_movements.order_by("pk")),
            "is_lender": is_lender,
            "is_open": loan.status in Loan.OPEN,
            "recoverable": loan.status in RECOVERABLE,
            "today": clock.today().isoformat(),
            "errors": errors,
            "kept": kept,
        },
        status=400 if errors else 200,
    )


def _loan(request: HttpRequest, pk: int) -> Loan:
    loan = (
        loans_visible_to(request.user)
        .select_related("bank", "household", "program_version__program")
        .filter(pk=pk)
        .first()
    )
    if loan is None:
        raise Http404(_("No such loan in your area."))
    return loan


@login_required
@require_safe
def loan_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _loan_page(request, _loan(request, pk), {}, {})


LOAN_ACTIONS = ("repay", "compensate", "recover", "write_off")
LOAN_QUESTIONS = {
    "repay": gettext_lazy("Record this repayment? Repayments are never changed afterwards."),
    "compensate": gettext_lazy(
        "Claim the fund’s compensation for this loan? The loan is then closed as compensated."
    ),
    "recover": gettext_lazy("Record this recovery? The fund’s share goes back to the fund."),
    "write_off": gettext_lazy("Write this loan off? Recoveries may still be recorded afterwards."),
}


@login_required
@require_POST
def loan_act(request: HttpRequest, pk: int) -> HttpResponse:
    """The lending bank's officer services the loan: a repayment, the fund's compensation,
    a recovery after it."""
    loan = _loan(request, pk)
    action = request.POST.get("action", "")
    if action not in LOAN_ACTIONS:
        raise Http404
    kept = {k: request.POST.get(k, "") for k in request.POST if k != "csrfmiddlewaretoken"}
    if (action != "write_off" or kept.get("reason", "").strip()) and (
        asked := confirmation_page(
            request,
            str(LOAN_QUESTIONS[action]),
            cancel_url=reverse("loans:loan", args=[loan.pk]),
        )
    ):
        return asked
    try:
        if action == "repay":
            loan_repay(
                actor=request.user,
                loan_id=loan.pk,
                on=_day(kept.get("date", "")),
                principal=kept.get("principal") or "0",
                interest=kept.get("interest") or "0",
                penalty=kept.get("penalty") or "0",
            )
            messages.success(request, _("The repayment is recorded."))
        elif action == "compensate":
            moved = loan_compensate(actor=request.user, loan_id=loan.pk, on=clock.today())
            messages.success(
                request, _("The fund compensated %(amount)s yuan.") % {"amount": moved.amount}
            )
        elif action == "write_off":
            loan_write_off(
                actor=request.user,
                loan_id=loan.pk,
                on=clock.today(),
                reason=kept.get("reason", ""),
            )
            messages.success(request, _("The loan is written off."))
        else:
            loan_recover(
                actor=request.user,
                loan_id=loan.pk,
                amount=kept.get("amount", ""),
                on=_day(kept.get("date", "")),
            )
            messages.success(request, _("The recovery is recorded."))
    except ServiceError as error:
        loan.refresh_from_db()
        return _loan_page(request, loan, _errors(error), kept)
    return redirect("loans:loan", pk=loan.pk)
