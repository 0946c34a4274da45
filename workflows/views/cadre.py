"""The village cadre's pages: find and register households, file applications on their
behalf, record the democratic appraisal, upload the signed forms, move the application to
posting and record objections heard in the village.

Thin: reads through ``applications.selectors`` (out of the cadre's villages → 404), writes
through the services; a service's refusal is shown as a message or a field error and
changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from applications import idnumbers
from applications.chains import Page, chain_of
from applications.lifecycle import lifecycle_of
from applications.models import Application, Area, Household, Program
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import (
    application_filters_parse,
    applications_search,
    applications_visible_to,
    areas_visible_to,
    has_role_in,
    households_visible_to,
    programs_visible_to,
    scope_prefixes,
    status_programs,
)
from applications.services import household_create, household_update, program_version_current
from approvals import policy
from approvals.labels import STEP_LABELS
from approvals.services.attachments import attachment_add
from approvals.services.filing import application_create, application_edit, subsidy_available
from approvals.services.objections import objection_raise
from approvals.services.transitions import application_transition
from common.actors import Actor
from common.confirm import confirmation_page
from common.errors import InvalidInput, ServiceError
from documents.selectors import (
    application_document_slots,
    household_document_slots,
    village_notice_slot,
)
from loans.selectors import loans_visible_to
from loans.views.filing import loan_programs
from payments.selectors import household_payment_lines, payment_lines_of
from workflows.forms import (
    AppraisalForm,
    AttachmentForm,
    Form,
    HouseholdEditForm,
    HouseholdForm,
    HouseholdSearchForm,
    ItemsForm,
    MemberFormSet,
    ObjectionForm,
    add_service_errors,
)
from workflows.selectors import attachments_of, objections_of, status_context
from workflows.views import application_or_404

CADRE = Role.VILLAGE_CADRE
# The steps a cadre takes from the application page.
SEARCH_LIMIT = 50
PAGE_SIZE = 50
LAST_DIGITS = re.compile(r"^\d{0,3}[\dX]$")

View = Callable[..., HttpResponse]
M = TypeVar("M", bound=Model)


def is_cadre(user: Actor) -> bool:
    return bool(scope_prefixes(user, [CADRE]))


def cadre_required(view: View) -> View:
    """Signed in and a village cadre somewhere; the objects are scoped by each view."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_cadre(request.user):
            raise PermissionDenied(_("These pages are for village cadres."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _in_cadre_villages(qs: QuerySet[M], user: Actor, field: str = "area_code") -> QuerySet[M]:
    """Narrow a scoped queryset to the villages where the user is the cadre (a township
    reviewer who is also a village cadre files only in that village)."""
    cond = Q()
    for prefix in scope_prefixes(user, [CADRE]):
        cond |= Q(**{f"{field}__startswith": prefix})
    return qs.filter(cond)


def _villages(user: Actor) -> list[Area]:
    return list(
        _in_cadre_villages(areas_visible_to(user), user, "code")
        .filter(level=Area.Level.VILLAGE)
        .order_by("code")
    )


def _household(user: Actor, pk: int) -> Household:
    household = households_visible_to(user).select_related("area").filter(pk=pk).first()
    if household is None or not has_role_in(user, CADRE, household.area_code):
        raise Http404(_("No such household in your village."))
    return household


def _application(user: Actor, pk: int, action: str = "application.view") -> Application:
    return application_or_404(user, pk, roles=[CADRE], action=action)


def _subsidy_programs(user: Actor, household: Household) -> list[Program]:
    return list(
        programs_visible_to(user)
        .filter(
            kind=Program.Kind.SUBSIDY,
            active=True,
            area__code=household.area_code[:6] + "000000",
        )
        .order_by("name")
    )


def _status_program(user: Actor, household: Household, kind: str) -> bool:
    """Whether the household's page offers an exit or a return: the county has the
    program, the household's status allows it, and no such proposal is under way."""
    open_ = Application.objects.filter(household=household, program__kind=kind).exclude(
        status__in=Application.CLOSED
    )
    return (
        policy.household_status_fits(household, kind)
        and not open_.exists()
        and status_programs(user, household, kind).exists()
    )


# --- households --------------------------------------------------------------------------


@cadre_required
def household_search(request: HttpRequest) -> HttpResponse:
    """By the head's name (contains), the last digits of the ID number, or a full ID number."""
    form = HouseholdSearchForm(request.GET or None)
    households = _in_cadre_villages(households_visible_to(request.user), request.user)
    query = ""
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
    if query:
        number = idnumbers.normalize_id_number(query)
        if LAST_DIGITS.match(number):
            households = households.filter(
                Q(head_id_masked__endswith=number) | Q(head_name__contains=query)
            )
        elif len(number) == 18:
            households = households.filter(members__id_hash=idnumbers.lookup_hash(number))
        else:
            households = households.filter(head_name__contains=query)
    results = list(
        households.select_related("area").order_by("head_name", "pk")[: SEARCH_LIMIT + 1]
    )
    return render(
        request,
        "workflows/cadre/household_search.html",
        {
            "form": form,
            "query": query,
            "results": results[:SEARCH_LIMIT],
            "more": len(results) > SEARCH_LIMIT,
            "may_reveal": bool(scope_prefixes(request.user, [REVEAL_PERMISSION])),
        },
    )


@cadre_required
def household_register(request: HttpRequest) -> HttpResponse:
    villages = _villages(request.user)
    form = HouseholdForm(request.POST or None, villages=villages)
    members = MemberFormSet(request.POST or None, prefix="members")
    if request.method == "POST" and form.is_valid() and members.is_valid():
        rows = [m for m in members.forms if not m.is_blank()]
        data = form.cleaned_data
        try:
            household = household_create(
                actor=request.user,
                area_code=data["area"],
                head_name=data["head_name"],
                head_id_number=data["head_id_number"],
                bank_card=data["bank_card"],
                bank_card_holder=data["bank_card_holder"],
                phone=data["phone"],
                household_type=data["household_type"],
                poverty_causes=data["poverty_causes"],
                members=_member_values(rows),
            )
        except InvalidInput as exc:
            _member_errors(form, rows, exc.errors)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The household is registered."))
            return redirect("workflows:cadre_household", pk=household.pk)
    return render(
        request,
        "workflows/cadre/household_form.html",
        {"form": form, "members": members},
    )


def _member_values(rows: list[Any]) -> list[dict[str, str]]:
    """The member rows of a form, as the services take them."""
    return [
        {key: m.cleaned_data.get(key) or "" for key in ("name", "id_number", "relation")}
        for m in rows
    ]


MEMBER_KEY = re.compile(r"^members\[(\d+)\]\.(\w+)$")


def _member_errors(form: Form, rows: list[Any], errors: dict[str, list[str]]) -> None:
    """``members[i].field`` names the i-th non-blank row sent; the rest go to the main form."""
    rest: dict[str, list[str]] = {}
    for key, msgs in errors.items():
        match = MEMBER_KEY.match(key)
        if match and int(match.group(1)) < len(rows):
            row = rows[int(match.group(1))]
            field = match.group(2)
            for msg in msgs:
                row.add_error(field if field in row.fields else None, msg)
        else:
            rest[key] = msgs
    add_service_errors(form, rest, {"members": "__all__"})


@cadre_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household(request.user, pk)
    apps = (
        applications_visible_to(request.user, roles=[CADRE])
        .filter(household=household)
        .select_related("program")
        .order_by("-created_at", "-id")
    )
    return render(
        request,
        "workflows/cadre/household_detail.html",
        {
            "household": household,
            "members": household.members.order_by("pk"),
            "phone": idnumbers.mask_phone(household.phone),
            "applications": apps,
            "payment_lines": household_payment_lines(household.pk),
            "document_slots": household_document_slots(request.user, household),
            "can_apply": bool(_subsidy_programs(request.user, household)),
            "can_exit": _status_program(request.user, household, Program.Kind.EXIT),
            "can_return": _status_program(request.user, household, Program.Kind.RETURN),
            "can_borrow": bool(loan_programs(request.user, household)),
            "loans": list(
                loans_visible_to(request.user)
                .filter(household=household)
                .select_related("bank")
                .order_by("-drawdown_date")
            ),
        },
    )


@cadre_required
def household_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a household (``household_update``): phone, card, type, causes, and members
    added or removed. Everything in one change, audited; any problem changes nothing."""
    household = _household(request.user, pk)
    members = list(household.members.order_by("pk"))
    form = HouseholdEditForm(
        request.POST or None,
        initial={
            "bank_card_holder": household.bank_card_holder or household.head_name,
            "household_type": household.household_type,
            "poverty_causes": household.poverty_causes,
        },
    )
    new_members = MemberFormSet(request.POST or None, prefix="members")
    removing = {int(v) for v in request.POST.getlist("members_remove") if v.isdigit()}
    if request.method == "POST" and form.is_valid() and new_members.is_valid():
        rows = [m for m in new_members.forms if not m.is_blank()]
        # Only what was changed on this form: a colleague's change saved since it was opened
        # is not put back.
        data = {k: v for k, v in form.cleaned_data.items() if k in form.changed_data and v != ""}
        if (
            removing
            and form.cleaned_data["reason"].strip()
            and (
                asked := confirmation_page(
                    request,
                    _(
                        "Remove the chosen members from the household? Their ID numbers leave "
                        "the registry; the record keeps who removed them, when and why."
                    ),
                    cancel_url=reverse("workflows:cadre_household", args=[household.pk]),
                )
            )
        ):
            return asked
        try:
            household_update(
                actor=request.user,
                household_id=household.pk,
                phone=data.get("phone"),
                bank_card=data.get("bank_card"),
                bank_card_holder=data.get("bank_card_holder"),
                household_type=data.get("household_type"),
                poverty_causes=data.get("poverty_causes"),
                members_add=_member_values(rows),
                members_remove=sorted(removing),
                reason=form.cleaned_data["reason"],
            )
        except InvalidInput as exc:
            _member_errors(
                form,
                rows,
                {k.replace("members_add[", "members[", 1): v for k, v in exc.errors.items()},
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The household is corrected."))
            return redirect("workflows:cadre_household", pk=household.pk)
    return render(
        request,
        "workflows/cadre/household_edit.html",
        {
            "household": household,
            "form": form,
            "members": new_members,
            "current": members,
            "removing": removing,
            "phone": idnumbers.mask_phone(household.phone),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- filing ------------------------------------------------------------------------------


@cadre_required
def application_file(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household(request.user, pk)
    programs = _subsidy_programs(request.user, household)
    chosen = request.POST.get("program") or request.GET.get("program")
    program = next((p for p in programs if str(p.pk) == chosen), None)
    if program is None and len(programs) == 1:
        program = programs[0]
    version = None
    form = None
    if program is not None:
        try:
            version = program_version_current(program)
        except InvalidInput as exc:
            messages.error(request, exc.message)
            program = None
    if program is not None and version is not None:
        form = ItemsForm(
            request.POST if request.method == "POST" else None,
            items=version.items.order_by("pk"),
        )
        if request.method == "POST" and form.is_valid():
            lines = form.item_lines()
            try:
                app = application_create(
                    actor=request.user,
                    household_id=household.pk,
                    program_id=program.pk,
                    items=lines,
                )
            except InvalidInput as exc:
                form.add_item_errors(exc.errors, lines)
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Application filed: %(amount)s yuan.") % {"amount": app.amount},
                )
                return redirect("workflows:cadre_application", pk=app.pk)
    return render(
        request,
        "workflows/cadre/application_form.html",
        {
            "household": household,
            "programs": programs,
            "program": program,
            "version": version,
            "form": form,
            "available": subsidy_available(household_id=household.pk, version=version)
            if version
            else None,
        },
    )


# --- the application ---------------------------------------------------------------------


def _application_page(
    request: HttpRequest, app: Application, status: int = 200, **forms: Any
) -> HttpResponse:
    user = request.user
    editable = policy.is_editable(app)
    items_form = forms.get("items_form")
    lines = list(app.items.select_related("item").order_by("pk"))
    if editable and items_form is None:
        items_form = ItemsForm(
            initial={f"item_{line.item.code}": line.quantity for line in lines},
            items=app.program_version.items.order_by("pk"),
        )
    appraisal_form = forms.get("appraisal_form")
    if editable and appraisal_form is None:
        appraisal_form = AppraisalForm(
            initial={
                "appraisal_date": app.appraisal_date,
                "appraisal_attendees": app.appraisal_attendees,
                "appraisal_votes_for": app.appraisal_votes_for,
                "appraisal_votes_against": app.appraisal_votes_against,
            }
        )
    lifecycle = lifecycle_of(app, user)
    steps = [
        (step.name, STEP_LABELS[step.name], step.confirm)
        for step in lifecycle.chain.steps
        if step.page == Page.CADRE and lifecycle.allowed_by_role(step.name, user)
    ]
    return render(
        request,
        "workflows/cadre/application_detail.html",
        {
            "app": app,
            "household": app.household,
            "lines": lines,
            "editable": editable,
            "items_form": items_form if editable else None,
            "appraisal_form": appraisal_form if editable else None,
            "attachment_form": forms.get("attachment_form") or AttachmentForm(),
            "attachments": attachments_of(user, app),
            "document_slots": application_document_slots(user, app),
            "payment_lines": payment_lines_of(app),
            "objection_form": (forms.get("objection_form") or ObjectionForm())
            if policy.objection_refusal(app) is None
            else None,
            "objections": objections_of(user, app),
            "steps": steps,
            **status_context(app),
            "cap": app.program_version.household_cap,
            "available": subsidy_available(
                household_id=app.household_id, version=app.program_version
            ),
        },
        status=status,
    )


@cadre_required
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _application_page(request, _application(request.user, pk))


def _run_form(
    request: HttpRequest,
    app: Application,
    form: Any,
    call: Callable[[dict[str, Any]], Any],
    success: Callable[[Any], str],
    on_invalid: Callable[[dict[str, list[str]]], None] | None = None,
) -> HttpResponse | None:
    """One way for every form on the application page: a valid form goes to its service;
    success or a refusal returns to the page with a message; field errors stay on the form
    (``None``: the caller shows the page again with it)."""
    if not form.is_valid():
        return None
    try:
        result = call(form.cleaned_data)
    except InvalidInput as exc:
        (on_invalid or (lambda errors: add_service_errors(form, errors)))(exc.errors)
        return None
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(result))
    return redirect("workflows:cadre_application", pk=app.pk)


@require_POST
@cadre_required
def application_items(request: HttpRequest, pk: int) -> HttpResponse:
    app = _application(request.user, pk, "application.edit")
    form = ItemsForm(request.POST, items=app.program_version.items.order_by("pk"))
    lines = form.item_lines() if form.is_valid() else []
    done = _run_form(
        request,
        app,
        form,
        lambda data: application_edit(actor=request.user, application_id=app.pk, items=lines),
        lambda saved: _("Items saved: %(amount)s yuan.") % {"amount": saved.amount},
        on_invalid=lambda errors: form.add_item_errors(errors, lines),
    )
    return done or _application_page(request, app, status=400, items_form=form)


@require_POST
@cadre_required
def application_appraisal(request: HttpRequest, pk: int) -> HttpResponse:
    app = _application(request.user, pk, "application.edit")
    form = AppraisalForm(request.POST)
    done = _run_form(
        request,
        app,
        form,
        lambda data: application_edit(actor=request.user, application_id=app.pk, **data),
        lambda _saved: _("The democratic appraisal is recorded."),
    )
    return done or _application_page(request, app, status=400, appraisal_form=form)


@require_POST
@cadre_required
def application_attach(request: HttpRequest, pk: int) -> HttpResponse:
    app = _application(request.user, pk, "attachment.add")
    form = AttachmentForm(request.POST, request.FILES)
    done = _run_form(
        request,
        app,
        form,
        lambda data: attachment_add(
            actor=request.user, application_id=app.pk, kind=data["kind"], file=data["file"]
        ),
        lambda _saved: _("The file is uploaded."),
    )
    return done or _application_page(request, app, status=400, attachment_form=form)


@require_POST
@cadre_required
def application_step(request: HttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("step", "")
    app = _application(request.user, pk, f"application.{name[:20]}")
    if name not in chain_of(app).names_on(Page.CADRE):
        messages.error(request, _("Unknown step."))
        return redirect("workflows:cadre_application", pk=app.pk)
    step = chain_of(app).steps_by_name[name]
    if step.confirm is not None and (
        asked := confirmation_page(
            request,
            str(step.confirm),
            cancel_url=reverse("workflows:cadre_application", args=[app.pk]),
        )
    ):
        return asked
    try:
        app = application_transition(actor=request.user, application_id=app.pk, name=name)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Done: the application is now %(status)s.") % {"status": app.get_status_display()},
        )
    return redirect("workflows:cadre_application", pk=app.pk)


@require_POST
@cadre_required
def application_objection(request: HttpRequest, pk: int) -> HttpResponse:
    app = _application(request.user, pk, "objection.raise")
    form = ObjectionForm(request.POST)
    done = _run_form(
        request,
        app,
        form,
        lambda data: objection_raise(actor=request.user, application_id=app.pk, **data),
        lambda _saved: _("The objection is recorded; the township reviewer will look into it."),
    )
    if done:
        return done
    refusal = policy.objection_refusal(app)
    if refusal is not None:
        messages.error(request, refusal.message)
        return redirect("workflows:cadre_application", pk=app.pk)
    return _application_page(request, app, status=400, objection_form=form)


# --- my village ----------------------------------------------------------------------------


@cadre_required
def village_applications(request: HttpRequest) -> HttpResponse:
    filters, chosen, _errors = application_filters_parse(
        request.GET,
        allowed={
            "status": Application.Status.values,
            **dict.fromkeys(("state", "program", "household", "area", "township", "village"), []),
        },
    )
    apps = (
        applications_search(request.user, filters=filters, roles=[CADRE])
        .select_related("household", "program")
        .order_by("-created_at", "-id")
    )
    status = chosen.get("status", "")
    page = Paginator(apps, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "workflows/cadre/village.html",
        {
            "page": page,
            "status": status,
            "statuses": Application.Status.choices,
            "villages": _villages(request.user),
            # Each village's notice, while any of its applications is posted.
            "notice_slots": [
                village_notice_slot(request.user, v.code, v.name)
                for v in _villages(request.user)
                if Application.objects.filter(
                    area_code=v.code, status=Application.Status.POSTED
                ).exists()
            ],
        },
    )


urlpatterns = [
    path("cadre/", village_applications, name="cadre_village"),
    path("cadre/households/", household_search, name="cadre_households"),
    path("cadre/households/new/", household_register, name="cadre_household_create"),
    path("cadre/households/<int:pk>/edit/", household_edit, name="cadre_household_edit"),
    path("cadre/households/<int:pk>/", household_detail, name="cadre_household"),
    path("cadre/households/<int:pk>/apply/", application_file, name="cadre_application_create"),
    path("cadre/applications/<int:pk>/", application_detail, name="cadre_application"),
    path("cadre/applications/<int:pk>/items/", application_items, name="cadre_application_items"),
    path(
        "cadre/applications/<int:pk>/appraisal/",
        application_appraisal,
        name="cadre_application_appraisal",
    ),
    path(
        "cadre/applications/<int:pk>/attachments/",
        application_attach,
        name="cadre_application_attach",
    ),
    path("cadre/applications/<int:pk>/step/", application_step, name="cadre_application_step"),
    path(
        "cadre/applications/<int:pk>/objections/",
        application_objection,
        name="cadre_application_objection",
    ),
]
