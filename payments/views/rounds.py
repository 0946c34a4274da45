"""The finance pages: the payment rounds of the user's area, drawing one up, a round with its
lines, exclusions and reconciliation, and its actions (approve, cancel, the bank file, the
bank's return file).

Thin: reads through ``payments.selectors`` (a round outside the user's area is 404), writes
through ``payments.services``; a refusal is shown to the user and changes nothing. Which
actions a page offers is a hint from the round's status and the user's roles; the services
decide."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from applications.models import Area, Program
from applications.roles import Role
from applications.selectors import areas_visible_to, has_role_in, programs_visible_to, roles_in
from common.actors import Actor
from common.confirm import confirmation_page
from common.errors import InvalidInput, NotFound, ServiceError
from payments import formats
from payments.formats import MAX_RETURN_FILE
from payments.models import PaymentLine, PaymentRound
from payments.policy import round_actions
from payments.selectors import payment_round_get, payment_rounds_visible_to
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import (
    payment_round_approve,
    payment_round_cancel,
    payment_round_create,
)

RS = PaymentRound.Status
LS = PaymentLine.Status
ROUNDS_PER_PAGE = 50
LINES_PER_PAGE = 200
CENT = Decimal("0.01")
# Who opens an application's decision page from a line: those with a step in the chain.
DECIDING_ROLES = frozenset({Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER, Role.FINANCE_OFFICER})


def _round_or_404(user: Actor, pk: int) -> PaymentRound:
    round_ = payment_round_get(user, pk)
    if round_ is None:
        raise Http404(_("No such payment round in your area."))
    return round_


def _area_names(user: Actor, codes: set[str]) -> dict[str, str]:
    return dict(areas_visible_to(user).filter(code__in=codes).values_list("code", "name"))


# --- the list, and drawing up a round --------------------------------------------------------


def _create_options(user: Actor) -> dict[str, list[Any]]:
    """What the drawing-up form offers: the counties and townships where the user is a
    finance officer, and their counties' programs (empty lists: no form)."""
    areas = [
        a
        for a in areas_visible_to(user).filter(level__in=[Area.Level.COUNTY, Area.Level.TOWNSHIP])
        if has_role_in(user, Role.FINANCE_OFFICER, a.code)
    ]
    programs: list[Program] = []
    if areas:
        programs = [
            p
            for p in programs_visible_to(user).filter(active=True).order_by("code")
            if has_role_in(user, Role.FINANCE_OFFICER, p.area_id)
        ]
    return {"areas": areas, "programs": programs}


@login_required
@require_http_methods(["GET", "POST"])
def rounds_page(request: HttpRequest) -> HttpResponse:
    """The rounds the user may see, newest first; finance officers draw up a new one."""
    user = request.user
    options = _create_options(user)
    errors: dict[str, list[str]] = {}
    chosen = {"program": "", "area": ""}
    if request.method == "POST":
        chosen = {k: request.POST.get(k, "").strip() for k in chosen}
        try:
            round_ = payment_round_create(
                actor=user, program_id=_positive_int(chosen["program"]), area_code=chosen["area"]
            )
        except InvalidInput as error:
            errors = error.as_dict()
        except ServiceError as error:
            errors = {"detail": [error.message]}
        else:
            messages.success(
                request,
                _("Round %(ref)s is drawn up: %(count)d lines, %(total)s yuan.")
                % {"ref": round_.reference, "count": round_.count, "total": round_.total},
            )
            return redirect("payments:round", pk=round_.pk)
    qs = payment_rounds_visible_to(user).select_related("program", "made_by", "approved_by")
    page = Paginator(qs.order_by("-created_at", "-id"), ROUNDS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    names = _area_names(user, {r.area_code for r in page})
    return render(
        request,
        "payments/rounds.html",
        {
            "page": page,
            "rows": [(r, names.get(r.area_code, r.area_code)) for r in page],
            "options": options,
            "can_draw_up": bool(options["areas"] and options["programs"]),
            "chosen": chosen,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput({"program": [_("Choose a program.")]}) from None
    if value < 1:
        raise InvalidInput({"program": [_("Choose a program.")]})
    return value


# --- one round -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """What the bank answered so far, from the lines."""

    paid: int
    paid_sum: Decimal
    failed: list[PaymentLine]
    discrepancies: list[PaymentLine]
    waiting: int


def _reconciliation(round_: PaymentRound) -> Reconciliation | None:
    if round_.status not in (RS.SENT, RS.RECONCILED) or not round_.imports.exists():
        return None
    counts = {
        row["status"]: row
        for row in round_.lines.order_by()
        .values("status")
        .annotate(n=Count("id"), paid_sum=Sum("paid_amount"))
    }
    answered = round_.lines.order_by("reference")
    return Reconciliation(
        paid=counts.get(LS.PAID, {}).get("n", 0),
        paid_sum=Decimal(counts.get(LS.PAID, {}).get("paid_sum") or 0).quantize(CENT),
        failed=list(answered.filter(status=LS.FAILED)),
        discrepancies=list(answered.filter(status=LS.DISCREPANCY)),
        waiting=counts.get(LS.SENT, {}).get("n", 0),
    )


def _round_page(
    request: HttpRequest, round_: PaymentRound, *, status: int = 200, **extra: Any
) -> HttpResponse:
    user = request.user
    lines = Paginator(
        round_.lines.select_related("application").order_by("reference"), LINES_PER_PAGE
    ).get_page(request.GET.get("page"))
    decidable = {
        line.application_id
        for line in lines
        if roles_in(user, line.application.area_code) & DECIDING_ROLES
    }
    actions = round_actions(user, round_)
    exclusions = list(round_.exclusions.select_related("application").order_by("application_id"))
    return render(
        request,
        "payments/round.html",
        {
            "round": round_,
            "area_name": _area_names(user, {round_.area_code}).get(round_.area_code, ""),
            "lines": lines,
            "decidable": decidable,
            "exclusions": exclusions,
            "decidable_excluded": {
                e.application_id
                for e in exclusions
                if roles_in(user, e.application.area_code) & DECIDING_ROLES
            },
            "imports": list(round_.imports.select_related("imported_by").order_by("imported_at")),
            "reconciliation": _reconciliation(round_),
            "actions": actions,
            "any_action": any(actions.values()),
            "made_it": round_.made_by_id == user.pk,
            "formats": tuple(formats.FORMATS),
            **extra,
        },
        status=status,
    )


@login_required
@require_safe
def round_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _round_page(request, _round_or_404(request.user, pk))


def _ask(request: HttpRequest, round_: PaymentRound, question: str) -> HttpResponse | None:
    """The confirmation page of a step on the round (None: it was confirmed)."""
    return confirmation_page(
        request, question, cancel_url=reverse("payments:round", args=[round_.pk])
    )


@login_required
@require_POST
def round_approve(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round_or_404(request.user, pk)
    if asked := _ask(
        request,
        round_,
        _("Approve this round of %(count)s lines, %(total)s yuan? Its list is frozen.")
        % {"count": round_.count, "total": round_.total},
    ):
        return asked
    try:
        approved = payment_round_approve(actor=request.user, round_id=round_.pk)
    except NotFound:
        raise Http404 from None
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("The round is approved: %(count)d lines, %(total)s yuan; its list is frozen.")
            % {"count": approved.count, "total": approved.total},
        )
    return redirect("payments:round", pk=round_.pk)


@login_required
@require_POST
def round_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round_or_404(request.user, pk)
    reason = request.POST.get("reason", "")
    if reason.strip() and (
        asked := _ask(
            request,
            round_,
            _("Cancel this round? Its applications may then go into another round."),
        )
    ):
        return asked
    try:
        payment_round_cancel(actor=request.user, round_id=round_.pk, reason=reason)
    except NotFound:
        raise Http404 from None
    except InvalidInput as error:
        return _round_page(
            request, round_, status=400, cancel_errors=error.as_dict(), cancel_reason=reason
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The round is cancelled: its applications may be paid later."))
    return redirect("payments:round", pk=round_.pk)


@login_required
@require_http_methods(["GET", "POST"])
def bank_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The bank file, as an attachment (full card and ID numbers: the service audits every
    download). The first download marks the round sent, so it is a POST: a GET of an
    approved round's file (a prefetch, a link preview) changes nothing."""
    round_ = _round_or_404(request.user, pk)
    fmt = request.POST.get("format") or request.GET.get("format") or "txt"
    if request.method == "GET" and round_.status == RS.APPROVED:
        messages.error(
            request, _("The first download marks the round sent: use the download button.")
        )
        return redirect("payments:round", pk=round_.pk)
    if round_.status == RS.APPROVED and (
        asked := _ask(
            request,
            round_,
            _(
                "Download the bank file and mark the round sent to the bank? It can no longer "
                "be cancelled."
            ),
        )
    ):
        return asked
    try:
        out = bank_file_export(actor=request.user, round_id=round_.pk, fmt=fmt)
    except NotFound:
        raise Http404 from None
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("payments:round", pk=round_.pk)
    response = HttpResponse(out.data, content_type=out.content_type)
    response["Content-Disposition"] = f'attachment; filename="{out.name}"'
    response["X-Content-SHA256"] = out.sha256
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def bank_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Apply the bank's return file: checked whole first; any problem refuses it all, and
    the page lists every problem."""
    round_ = _round_or_404(request.user, pk)
    upload = request.FILES.get("file")
    if upload is not None and (
        asked := _ask(
            request,
            round_,
            _(
                "Apply this return file to the round? Paid lines take the payment step and "
                "cannot be undone."
            ),
        )
    ):
        return asked
    try:
        if upload is None:
            raise InvalidInput({"file": [_("Choose the bank's return file.")]})
        outcome = bank_return_import(
            actor=request.user, round_id=round_.pk, data=upload.read(MAX_RETURN_FILE + 1)
        )
    except NotFound:
        raise Http404 from None
    except InvalidInput as error:
        problems = [m for ms in error.as_dict().values() for m in ms]
        return _round_page(request, round_, status=400, upload_errors=problems)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("payments:round", pk=round_.pk)
    if outcome.repeated:
        messages.info(request, _("This file was applied to the round before: nothing changed."))
    else:
        messages.success(
            request,
            _("Paid %(paid)d, failed %(failed)d, amount differs %(diff)d.")
            % {"paid": outcome.paid, "failed": outcome.failed, "diff": outcome.discrepancies},
        )
    return redirect("payments:round", pk=round_.pk)
