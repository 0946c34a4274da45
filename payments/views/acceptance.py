"""The acceptance pages (先建后补): the township's list of approved applications whose work it
visits, with the visit form (result, notes, photos); the county's decision on a failed visit
(another visit after rectification, or rejection); the county's re-check samples, drawing
one, and recording its re-checks. Inspectors and finance read them.

Thin: reads through ``payments.selectors``, writes through ``payments.services.acceptance``;
a refusal is shown to the user and changes nothing. Which forms a page offers is a hint
from the state and the user's roles; the services decide."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from applications.models import Area, Program
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    areas_visible_to,
    has_role_in,
    programs_visible_to,
    roles_in,
)
from common.actors import Actor
from common.confirm import confirmation_page
from common.errors import InvalidInput, NotFound, ServiceError
from payments.models import AcceptanceSample
from payments.policy import (
    ACCEPTANCE_STATE_LABELS,
    REJECTABLE_STATES,
    VISIT_STATES,
    AcceptanceState,
)
from payments.selectors import (
    AcceptanceRow,
    acceptance_rows,
    acceptance_sample_get,
    acceptance_samples_visible_to,
    sample_items_of,
)
from payments.services.acceptance import (
    MAX_PHOTOS,
    acceptance_recheck,
    acceptance_record,
    acceptance_rectification_allow,
    acceptance_reject,
    acceptance_sample_draw,
    sample_redraw,
)

STATE_VALUES = frozenset(s.value for s in AcceptanceState)
SAMPLES_PER_PAGE = 50
ROWS_LIMIT = 500
# Who opens an application's decision page from a row: those with a step in the chain.
DECIDING_ROLES = frozenset({Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER, Role.FINANCE_OFFICER})


def _visible_or_404(user: Actor, pk: int) -> int:
    if not applications_visible_to(user).filter(pk=pk).exists():
        raise Http404(_("No such application in your area."))
    return pk


def _row_context(user: Actor, row: AcceptanceRow) -> dict[str, Any]:
    code = row.application.area_code
    return {
        "row": row,
        "label": ACCEPTANCE_STATE_LABELS[row.state],
        "can_visit": row.state in VISIT_STATES and has_role_in(user, Role.TOWNSHIP_REVIEWER, code),
        "can_allow": row.state == AcceptanceState.FAILED
        and has_role_in(user, Role.COUNTY_APPROVER, code),
        "can_reject": row.state in REJECTABLE_STATES
        and has_role_in(user, Role.COUNTY_APPROVER, code),
        "decides": bool(roles_in(user, code) & DECIDING_ROLES),
    }


def _acceptance_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    user = request.user
    state = request.GET.get("state", "")
    states = {state} if state in STATE_VALUES else None
    rows = acceptance_rows(user, states=states, limit=ROWS_LIMIT)
    villages = dict(
        areas_visible_to(user)
        .filter(code__in={r.application.area_code for r in rows})
        .values_list("code", "name")
    )
    return render(
        request,
        "payments/acceptance.html",
        {
            "rows": [
                {**_row_context(user, r), "village": villages.get(r.application.area_code, "")}
                for r in rows
            ],
            "limit": ROWS_LIMIT,
            # A sample's page is the county's: link it only for those who may open it.
            "open_samples": set(
                acceptance_samples_visible_to(user)
                .filter(pk__in={r.sampled.sample_id for r in rows if r.sampled})
                .values_list("pk", flat=True)
            ),
            "state": state if states else "",
            "states": [(s.value, label) for s, label in ACCEPTANCE_STATE_LABELS.items()],
            "max_photos": MAX_PHOTOS,
            **extra,
        },
        status=status,
    )


@login_required
@require_safe
def acceptance_page(request: HttpRequest) -> HttpResponse:
    """The approved applications of programs that pay after the work is built, in the
    user's area, each with its acceptance state and the form of whoever acts next."""
    return _acceptance_page(request)


def _complete(result: str, notes: str) -> bool:
    """A visit's or a re-check's answer is whole: passed, or failed with what failed."""
    return result == "passed" or (result == "failed" and bool(notes.strip()))


def _back(request: HttpRequest) -> HttpResponse:
    state = request.POST.get("state", "")
    url = reverse("payments:acceptance")
    return redirect(f"{url}?state={state}" if state in STATE_VALUES else url)


def _failed(request: HttpRequest, pk: int, error: ServiceError, **kept: Any) -> HttpResponse:
    """A refused or bad form: the page again, the message beside the application's row."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    if isinstance(error, InvalidInput):
        problems = [m for ms in error.as_dict().values() for m in ms]
        return _acceptance_page(request, status=400, errors_for=pk, errors=problems, kept=kept)
    messages.error(request, error.message)
    return _back(request)


@login_required
@require_POST
def visit(request: HttpRequest, pk: int) -> HttpResponse:
    """The township's visit: result, notes and photos, in one go."""
    _visible_or_404(request.user, pk)
    result, notes = request.POST.get("result", ""), request.POST.get("notes", "")
    # Ask once what is sent is complete (a failed visit says what failed): the missing part
    # is said first.
    if _complete(result, notes) and (
        asked := confirmation_page(
            request,
            _("Record this acceptance visit? It cannot be changed afterwards."),
            cancel_url=reverse("payments:acceptance"),
        )
    ):
        return asked
    try:
        recorded = acceptance_record(
            actor=request.user,
            application_id=pk,
            result=result,
            notes=notes,
            photos=request.FILES.getlist("photos"),
        )
    except ServiceError as error:
        return _failed(request, pk, error, result=result, notes=notes)
    messages.success(
        request,
        _("Visit %(visit)d of application %(pk)d recorded: %(result)s.")
        % {"visit": recorded.visit, "pk": pk, "result": recorded.get_result_display()},
    )
    return _back(request)


@login_required
@require_POST
def rectification(request: HttpRequest, pk: int) -> HttpResponse:
    """The county allows another visit after a failed one (整改)."""
    _visible_or_404(request.user, pk)
    reason = request.POST.get("reason", "")
    try:
        acceptance_rectification_allow(actor=request.user, application_id=pk, reason=reason)
    except ServiceError as error:
        return _failed(request, pk, error, reason=reason)
    messages.success(request, _("Another visit is allowed for application %(pk)d.") % {"pk": pk})
    return _back(request)


@login_required
@require_POST
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """The county rejects an application whose work failed acceptance."""
    _visible_or_404(request.user, pk)
    reason = request.POST.get("reason", "")
    if reason.strip() and (
        asked := confirmation_page(
            request,
            _("Reject this application? The budget it holds is released; this cannot be undone."),
            cancel_url=reverse("payments:acceptance"),
        )
    ):
        return asked
    try:
        acceptance_reject(actor=request.user, application_id=pk, reason=reason)
    except ServiceError as error:
        return _failed(request, pk, error, reason=reason)
    messages.success(
        request,
        _("Application %(pk)d is rejected; the budget it held is released.") % {"pk": pk},
    )
    return _back(request)


# --- the county's samples ----------------------------------------------------------------------


def _draw_options(user: Actor) -> dict[str, list[Any]]:
    """What the drawing form offers: the county and townships where the user is the county
    approver, and the programs there that pay after acceptance (empty: no form)."""
    areas = [
        a
        for a in areas_visible_to(user).filter(level__in=[Area.Level.COUNTY, Area.Level.TOWNSHIP])
        if has_role_in(user, Role.COUNTY_APPROVER, a.code)
    ]
    programs: list[Program] = []
    if areas:
        programs = [
            p
            for p in programs_visible_to(user)
            .filter(active=True, versions__acceptance_required=True)
            .distinct()
            .order_by("code")
            if has_role_in(user, Role.COUNTY_APPROVER, p.area_id)
        ]
    return {"areas": areas, "programs": programs}


@login_required
@require_http_methods(["GET", "POST"])
def samples_page(request: HttpRequest) -> HttpResponse:
    """The county's re-check samples, newest first; the county approver draws one."""
    user = request.user
    options = _draw_options(user)
    errors: list[str] = []
    chosen = {"program": "", "area": ""}
    if (
        request.method == "POST"
        and request.POST.get("program", "").strip().isdigit()
        and (
            asked := confirmation_page(
                request,
                _(
                    "Draw the sample now? The draw is recorded and cannot be repeated for the same "
                    "applications."
                ),
                cancel_url=reverse("payments:samples"),
            )
        )
    ):
        return asked
    if request.method == "POST":
        chosen = {k: request.POST.get(k, "").strip() for k in chosen}
        try:
            program_id = int(chosen["program"]) if chosen["program"].isdigit() else 0
            if program_id < 1:
                raise InvalidInput({"program": [_("Choose a program.")]})
            sample = acceptance_sample_draw(
                actor=user, program_id=program_id, area_code=chosen["area"]
            )
        except ServiceError as error:
            errors = (
                [m for ms in error.as_dict().values() for m in ms]
                if isinstance(error, InvalidInput)
                else [error.message]
            )
        else:
            messages.success(
                request,
                _("Sample drawn: %(chosen)d of %(population)d accepted applications.")
                % {"chosen": sample.items.count(), "population": len(sample.population)},
            )
            return redirect("payments:sample", pk=sample.pk)
    qs = (
        acceptance_samples_visible_to(user)
        .select_related("program", "drawn_by")
        .prefetch_related("items")
        .order_by("-drawn_at", "-pk")
    )
    page = Paginator(qs, SAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    names = dict(
        areas_visible_to(user)
        .filter(code__in={s.area_code for s in page})
        .values_list("code", "name")
    )
    return render(
        request,
        "payments/samples.html",
        {
            "page": page,
            "rows": [
                (
                    s,
                    names.get(s.area_code, s.area_code),
                    len(s.items.all()),
                    sum(1 for i in s.items.all() if i.result),
                )
                for s in page
            ],
            "options": options,
            "can_draw": bool(options["areas"] and options["programs"]),
            "chosen": chosen,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _sample_or_404(user: Actor, pk: int) -> AcceptanceSample:
    sample = acceptance_sample_get(user, pk)
    if sample is None:
        raise Http404(_("No such sample in your area."))
    return sample


def _sample_page(
    request: HttpRequest, sample: AcceptanceSample, *, status: int = 200, **extra: Any
) -> HttpResponse:
    user = request.user
    items = sample_items_of(sample)
    chosen = [i.application_id for i in items]
    county = has_role_in(user, Role.COUNTY_APPROVER, sample.area_code)
    return render(
        request,
        "payments/sample.html",
        {
            "sample": sample,
            "area_name": dict(
                areas_visible_to(user).filter(code=sample.area_code).values_list("code", "name")
            ).get(sample.area_code, sample.area_code),
            "items": [
                (
                    i,
                    county and not i.result and i.application.status == "approved",
                    bool(roles_in(user, i.application.area_code) & DECIDING_ROLES),
                )
                for i in items
            ],
            # Drawn again from the recorded seed and population: the same applications?
            "redraw_matches": sample_redraw(
                seed=sample.seed, population=sample.population, percent=sample.percent
            )
            == chosen,
            **extra,
        },
        status=status,
    )


@login_required
@require_safe
def sample_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _sample_page(request, _sample_or_404(request.user, pk))


@login_required
@require_POST
def recheck(request: HttpRequest, pk: int, application_id: int) -> HttpResponse:
    """The county records its re-check of one sampled application."""
    sample = _sample_or_404(request.user, pk)
    result, notes = request.POST.get("result", ""), request.POST.get("notes", "")
    if _complete(result, notes) and (
        asked := confirmation_page(
            request,
            _("Record this re-check? It cannot be changed afterwards."),
            cancel_url=reverse("payments:sample", args=[sample.pk]),
        )
    ):
        return asked
    try:
        if not sample.items.filter(application_id=application_id).exists():
            raise NotFound(_("No such application in this sample."))
        acceptance_recheck(
            actor=request.user, application_id=application_id, result=result, notes=notes
        )
    except NotFound:
        raise Http404 from None
    except InvalidInput as error:
        problems = [m for ms in error.as_dict().values() for m in ms]
        return _sample_page(
            request,
            sample,
            status=400,
            errors_for=application_id,
            errors=problems,
            kept={"result": result, "notes": notes},
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Re-check of application %(pk)d recorded.") % {"pk": application_id}
        )
    return redirect("payments:sample", pk=sample.pk)
