"""Pages of the reviewers: the queue (tasks they may take in their area) and the inbox (tasks
they hold), claim and release, bulk approval, the decision page and the application page
with its timeline and process diagram.

Thin: reads through ``applications.selectors`` and ``workflows.selectors`` (outside the
user's area → 404), writes through ``approvals.services`` and ``workflows.services``; a
refusal is shown to the user and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from applications.chains import chain_of
from applications.models import Application, Area, StatusChange
from applications.permissions import holders_of
from applications.roles import ROLE_PERMISSION, Role
from applications.selectors import (
    application_filters_parse,
    applications_filter,
    areas_visible_to,
    has_role_in,
    programs_visible_to,
)
from approvals import policy
from approvals.labels import STEP_LABELS
from approvals.models import Objection
from approvals.selectors import (
    application_timeline,
    applications_kin_flagged,
    applications_payment_held,
    applications_recused,
    attachments_visible_to,
    card_check_valid,
    card_facts,
    kin_flags_of,
    objections_visible_to,
    recused_from,
)
from approvals.services.card_checks import card_check_allowed, card_check_record
from approvals.services.objections import objection_resolve
from approvals.services.transitions import (
    APPROVE,
    application_transition,
    applications_bulk_transition,
    available_transitions,
    transition_refusals,
)
from common import clock
from common.actors import Actor
from common.confirm import confirmation_page
from common.errors import InvalidInput, ServiceError
from documents.selectors import application_document_slots
from payments.selectors import payment_lines_of
from payments.services.rounds import payment_refusal
from workflows import selectors
from workflows.selectors import status_context
from workflows.services import task_claim, task_reassign, task_release
from workflows.views import application_or_404, url_of_each

S = Application.Status
PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 1000  # "1000+": counting every row of a county's queue is not worth its time

SORTS: dict[str, tuple[str, ...]] = {
    # The time the application entered its current step, which is when its open task was
    # created (the same transaction): the application's own column, so an index serves it.
    "waiting": ("status_changed_at", "pk"),
    "-waiting": ("-status_changed_at", "-pk"),
    "id": ("pk",),
    "-id": ("-pk",),
    "amount": ("amount", "pk"),
    "-amount": ("-amount", "-pk"),
    "posting": ("posting_ends_at", "pk"),
    "-posting": ("-posting_ends_at", "-pk"),
}


# --- lists ---------------------------------------------------------------------------------


@dataclass
class Row:
    application: Application
    village: str
    days_waiting: int
    days_left: int | None
    held_by_me: bool
    kin_flagged: bool = False  # an official of the area is recused from it (rule 4)
    recused: bool = False  # ... and that official is the user
    payment_held: bool = False  # the payment waits for a bank card check (rule 5)
    # A return to poverty: where its identification stands against the deadline.
    deadline: policy.Deadline | None = None
    decide_url: str = ""
    task_url: str = ""  # claim (the queue) or release (the inbox)


def days_left_in_posting(app: Application, now: datetime) -> int | None:
    """Whole days (rounded up) until the posting window closes; None when not posted."""
    return policy.posting_days_left(
        app.posting_ends_at if app.status == S.POSTED else None, now=now
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _filter_options(user: Actor) -> dict[str, Any]:
    areas = list(areas_visible_to(user).filter(level__in=[Area.Level.TOWNSHIP, Area.Level.VILLAGE]))
    return {
        "townships": [a for a in areas if a.level == Area.Level.TOWNSHIP],
        "villages": [a for a in areas if a.level == Area.Level.VILLAGE],
        "programs": list(programs_visible_to(user).order_by("code")),
        "states": [(v, label) for v, label in S.choices if v not in Application.CLOSED],
    }


def _filtered(
    qs: QuerySet[Application], params: Any, options: dict[str, Any]
) -> tuple[QuerySet[Application], dict[str, str]]:
    """The list narrowed by the filters the page offers (others are ignored)."""
    filters, chosen, _errors = application_filters_parse(
        params,
        allowed={
            "township": [a.code for a in options["townships"]],
            "village": [a.code for a in options["villages"]],
            "program": [str(p.pk) for p in options["programs"]],
            "state": [v for v, _label in options["states"]],
            # The page's own vocabulary only: no free prefixes, statuses or households.
            "area": [],
            "status": [],
            "household": [],
        },
    )
    return applications_filter(qs, filters), chosen


def _task_list(request: HttpRequest, mode: str) -> HttpResponse:
    user = request.user
    base = selectors.tasks_queue(user) if mode == "queue" else selectors.tasks_inbox(user)
    options = _filter_options(user)
    qs, chosen = _filtered(base, request.GET, options)
    number = request.GET.get("number", "").strip()
    if number:
        # Search by application number (a number that is not one finds nothing).
        qs = qs.filter(pk=int(number)) if number.isdigit() and len(number) < 12 else qs.none()
        chosen["number"] = number
    sort = request.GET.get("sort", "waiting")
    if sort not in SORTS:
        sort = "waiting"
    qs = qs.order_by(*SORTS[sort])
    size = _int(request.GET.get("size"), DEFAULT_PAGE_SIZE)
    if size not in PAGE_SIZES:
        size = DEFAULT_PAGE_SIZE
    page = max(1, _int(request.GET.get("page"), 1))
    # Page numbers with LIMIT, one row more to know whether a next page exists; the page's
    # ids from the lean list first, then those rows in full with their tasks.
    ids = list(qs.values_list("pk", flat=True)[(page - 1) * size : page * size + 1])
    has_next = len(ids) > size
    found = selectors.tasks_page(ids[:size])
    total = qs.order_by()[: COUNT_CAP + 1].count()
    names = dict(
        Area.objects.filter(code__in={a.area_code for a in found}).values_list("code", "name")
    )
    now = clock.now()
    flagged = applications_kin_flagged(a.pk for a in found)
    recused = applications_recused(user, found)
    held = applications_payment_held(found, now=now)
    today = clock.today()
    deadlines = {
        change.application_id: policy.monitoring_deadline(change, today)
        for change in StatusChange.objects.filter(
            application_id__in=[a.pk for a in found], due_on__isnull=False
        )
    }
    decide_url = url_of_each("workflows:decide")
    task_url = url_of_each("workflows:task_claim" if mode == "queue" else "workflows:task_release")
    rows = [
        Row(
            application=a,
            village=names.get(a.area_code, a.area_code),
            # Since the application entered its step (its task is stamped by viewflow with
            # the wall clock; the step's own time is ours).
            days_waiting=max(0, (now - a.status_changed_at).days),
            days_left=days_left_in_posting(a, now),
            held_by_me=a.task_owner_id == user.pk,  # type: ignore[attr-defined]
            kin_flagged=a.pk in flagged or a.pk in recused,
            recused=a.pk in recused,
            payment_held=a.pk in held,
            deadline=deadlines.get(a.pk),
            decide_url=decide_url(a.pk),
            task_url=task_url(a.task_id),  # type: ignore[attr-defined]
        )
        for a in found
    ]
    query = {k: v for k, v in chosen.items()}
    if size != DEFAULT_PAGE_SIZE:
        query["size"] = str(size)

    def link(**extra: Any) -> str:
        from urllib.parse import urlencode

        return "?" + urlencode({**query, "sort": sort, **extra})

    return render(
        request,
        "workflows/review/tasks.html",
        {
            "mode": mode,
            "rows": rows,
            "page": page,
            "size": size,
            "total": total,
            "total_capped": total > COUNT_CAP,
            "count_cap": COUNT_CAP,
            "has_next": has_next,
            "next_link": link(page=page + 1) if has_next else "",
            "prev_link": link(page=page - 1) if page > 1 else "",
            "sort": sort,
            "sort_links": {
                key: link(sort=(f"-{key}" if sort == key else key))
                for key in ("id", "amount", "waiting", "posting")
            },
            "chosen": chosen,
            "options": options,
            "page_sizes": PAGE_SIZES,
            "here": request.get_full_path(),
            "objections_waiting": (
                selectors.objections_waiting(user, now=now) if mode == "queue" else []
            ),
        },
    )


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    return _task_list(request, "queue")


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    return _task_list(request, "inbox")


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@login_required
@require_POST
def claim(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task_claim(actor=request.user, task_id=task_id)
    except ServiceError as error:
        messages.error(request, error.message)
        return _back(request, "workflows:queue")
    messages.success(request, _("The task is yours: it is now in your inbox."))
    return _back(request, "workflows:queue")


@login_required
@require_POST
def release(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task_release(actor=request.user, task_id=task_id)
    except ServiceError as error:
        messages.error(request, error.message)
        return _back(request, "workflows:inbox")
    messages.success(request, _("The task is back in the queue."))
    return _back(request, "workflows:inbox")


@login_required
@require_POST
def reassign(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        to_user = int(request.POST.get("to_user", ""))
    except ValueError:
        messages.error(request, _("Choose a colleague."))
        return _back(request, "workflows:inbox")
    try:
        task_reassign(actor=request.user, task_id=task_id, to_user=to_user)
    except ServiceError as error:
        messages.error(request, error.message)
        return _back(request, "workflows:inbox")
    messages.success(request, _("The task is handed over."))
    return _back(request, "workflows:inbox")


@login_required
@require_POST
def bulk_approve(request: HttpRequest) -> HttpResponse:
    """Approve each selected application (``applications_bulk_transition``): every item
    passes every guard on its own; the result is shown per item."""
    ids: list[int] = []
    for raw in request.POST.getlist("ids"):
        value = _int(raw, 0)
        if value > 0:
            ids.append(value)
    if ids and (
        asked := confirmation_page(
            request,
            ngettext(
                "Approve the %(count)d selected application? Each is approved on its own.",
                "Approve the %(count)d selected applications? Each is approved on its own.",
                len(ids),
            )
            % {"count": len(ids)},
            cancel_url=reverse("workflows:queue"),
        )
    ):
        return asked
    try:
        results = applications_bulk_transition(actor=request.user, ids=ids, name=APPROVE)
    except InvalidInput as error:
        messages.error(request, error.message)
        return _back(request, "workflows:queue")
    approved = sum(1 for r in results if r.done)
    # Each approved application's new state (county review after the township's approval,
    # approved after the county's), not one word for all.
    labels = dict(Application.Status.choices)
    now_in = dict(
        Application.objects.filter(
            pk__in=[r.application_id for r in results if r.done]
        ).values_list("pk", "status")
    )
    return render(
        request,
        "workflows/review/bulk_result.html",
        {
            "results": results,
            "rows": [(r, labels.get(now_in.get(r.application_id, ""), "")) for r in results],
            "approved": approved,
            "refused": len(results) - approved,
            "back": request.POST.get("next") or reverse("workflows:queue"),
        },
    )


# --- one application -----------------------------------------------------------------------


def _page_context(request: HttpRequest, app: Application, **extra: Any) -> dict[str, Any]:
    user = request.user
    objections = selectors.objections_of(user, app)
    open_objections = sum(1 for o in objections if o.status == Objection.Status.OPEN)
    chain = chain_of(app)
    steps = [
        (
            name,
            STEP_LABELS[name],
            name in chain.reason_required,
            chain.steps_by_name[name].confirm or "",
        )
        for name in available_transitions(app, user, open_objections=open_objections)
    ]
    # No step: say what stands in the way (a rule, a recusal), not just "nothing to do".
    why_not = (
        []
        if steps
        else [r.message for r in transition_refusals(app, user, open_objections=open_objections)]
    )
    area = Area.objects.filter(code=app.area_code).first()
    task = selectors.active_task(app)
    return {
        **_flags_context(user, app),
        "app": app,
        "why_not": why_not,
        "village": area.name if area else app.area_code,
        "household": app.household,
        "items": list(app.items.select_related("item")),
        "attachments": selectors.attachments_of(user, app),
        "document_slots": application_document_slots(user, app),
        "payment_lines": payment_lines_of(app),
        "show_round_links": any(
            has_role_in(user, role, app.area_code)
            for role in (Role.FINANCE_OFFICER, Role.COUNTY_APPROVER, Role.INSPECTOR)
        ),
        "objections": objections,
        "can_resolve": has_role_in(user, Role.TOWNSHIP_REVIEWER, app.area_code),
        "days_left": days_left_in_posting(app, clock.now()),
        "timeline": application_timeline(app),
        **status_context(app),
        "steps": steps,
        # Only a person's task (the posting window is the timer's).
        "task": task if task is not None and task.owner_permission else None,
        "colleagues": selectors.task_colleagues(user, task)
        if task is not None and task.owner_permission
        else [],
        **extra,
    }


def _flags_context(user: Actor, app: Application) -> dict[str, Any]:
    """What the page shows of rules 4 and 5: the kin flags (备案) and whether the user is
    recused; for an approved application, why its payment is held and the card check, and
    to a finance officer whether a payment round would take it now (and if not, why)."""
    recused = recused_from(user, household_id=app.household_id)
    context: dict[str, Any] = {"kin_flags": kin_flags_of(app), "recused": recused}
    if app.status == S.APPROVED:
        card, now = card_facts(app), clock.now()
        context.update(
            card_not_heads=not card.holder_is_head,
            payment_holds=policy.payment_holds(card, now=now),
            card_check=card_check_valid(app),
            can_check_card=card_check_allowed(user, app, card=card, recused=recused, now=now),
        )
        if context["can_check_card"] and has_role_in(user, Role.FINANCE_OFFICER, app.area_code):
            # Whoever checks the card may not pay it: say so before, and whether another
            # finance officer of the county is there to pay.
            county = app.area_code[:6] + "000000"
            others = [
                u
                for u in holders_of(ROLE_PERMISSION[Role.FINANCE_OFFICER], county)
                if u.pk != getattr(user, "pk", None)
            ]
            context["checker_pays_warning"] = {"others": len(others)}
        if has_role_in(user, Role.FINANCE_OFFICER, app.area_code):
            # What the finance officer would meet drawing up a round with it now.
            refusal = payment_refusal(user, app)
            context["payment_state"] = {
                "payable": refusal is None,
                "why": refusal.message if refusal is not None else "",
            }
    return context


@login_required
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Read-only: the application, its timeline and the process diagram."""
    app = application_or_404(request.user, pk)
    diagram = selectors.process_diagram(app)
    context = _page_context(request, app, diagram=diagram, process_steps=diagram.steps)
    return render(request, "workflows/review/application.html", context)


@login_required
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    """The decision page: the steps this user may take now, as buttons; return and reject
    need a reason."""
    app = application_or_404(request.user, pk)
    errors: dict[str, list[str]] = {}
    step = ""
    reason = ""
    if request.method == "POST":
        step = request.POST.get("step", "")
        reason = request.POST.get("reason", "")
        declared = chain_of(app).steps_by_name.get(step)
        # Ask before a step that cannot be undone (once its reason is given, if it needs one:
        # a missing reason is said first).
        if (
            declared is not None
            and declared.confirm is not None
            and (reason.strip() or not declared.reason_required)
            and (
                asked := confirmation_page(
                    request,
                    str(declared.confirm),
                    cancel_url=reverse("workflows:decide", args=[app.pk]),
                )
            )
        ):
            return asked
        try:
            application_transition(
                actor=request.user, application_id=app.pk, name=step, reason=reason
            )
        except InvalidInput as error:
            errors = error.errors
        except ServiceError as error:
            errors = {"detail": [error.message]}
        else:
            messages.success(request, _("Done: %(step)s.") % {"step": STEP_LABELS.get(step, step)})
            return redirect("workflows:decide", pk=app.pk)
        app = application_or_404(request.user, pk)
    context = _page_context(request, app, errors=errors, chosen_step=step, reason=reason)
    return render(request, "workflows/review/decide.html", context, status=400 if errors else 200)


@login_required
@require_POST
def resolve_objection(request: HttpRequest, pk: int, objection_id: int) -> HttpResponse:
    """A township reviewer upholds (the application is rejected) or dismisses an objection,
    with a reason."""
    app = application_or_404(request.user, pk)
    if not objections_visible_to(request.user).filter(pk=objection_id, application=app).exists():
        raise Http404(_("No such objection in your area."))
    decision = request.POST.get("decision", "")
    if decision not in ("uphold", "dismiss"):
        messages.error(request, _("Choose whether to uphold or dismiss the objection."))
        return redirect("workflows:decide", pk=app.pk)
    if (
        decision == "uphold"
        and request.POST.get("reason", "").strip()
        and (
            asked := confirmation_page(
                request,
                _("Uphold this objection? The application is rejected; this cannot be undone."),
                cancel_url=reverse("workflows:decide", args=[app.pk]),
            )
        )
    ):
        return asked
    try:
        objection_resolve(
            actor=request.user,
            objection_id=objection_id,
            upheld=decision == "uphold",
            reason=request.POST.get("reason", ""),
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("The objection is upheld: the application is rejected.")
            if decision == "uphold"
            else _("The objection is dismissed."),
        )
    return redirect("workflows:decide", pk=app.pk)


@login_required
@require_POST
def card_check(request: HttpRequest, pk: int) -> HttpResponse:
    """A county approver or finance officer records the check of a held payment's bank
    card (with a reason); whoever records it does not pay."""
    app = application_or_404(request.user, pk)
    # A finance officer who checks may not pay it: asked first (as the page's button does).
    if (
        request.POST.get("reason", "").strip()
        and has_role_in(request.user, Role.FINANCE_OFFICER, app.area_code)
        and (
            asked := confirmation_page(
                request,
                _("Record the check? You will not be able to pay this application yourself."),
                cancel_url=reverse("workflows:decide", args=[app.pk]),
            )
        )
    ):
        return asked
    try:
        card_check_record(
            actor=request.user, application_id=app.pk, reason=request.POST.get("reason", "")
        )
    except InvalidInput as error:
        messages.error(request, next(iter(error.errors.values()))[0])
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The card check is recorded; another officer may now pay."))
    return redirect("workflows:decide", pk=app.pk)


@login_required
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """An uploaded file (consent form, photo, signed agreement), for users who may see its
    application; anything else is 404."""
    attachment = attachments_visible_to(request.user).filter(pk=pk).first()
    if attachment is None:
        raise Http404
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.download_name,
        content_type=attachment.content_type,
    )


urlpatterns = [
    path("review/queue/", queue, name="queue"),
    path("review/inbox/", inbox, name="inbox"),
    path("review/tasks/<int:task_id>/claim/", claim, name="task_claim"),
    path("review/tasks/<int:task_id>/release/", release, name="task_release"),
    path("review/tasks/<int:task_id>/reassign/", reassign, name="task_reassign"),
    path("review/approve/", bulk_approve, name="bulk_approve"),
    path("applications/<int:pk>/", application_detail, name="application"),
    path("attachments/<int:pk>/", attachment_download, name="attachment_download"),
    path("review/applications/<int:pk>/", decide, name="decide"),
    path("review/applications/<int:pk>/card-check/", card_check, name="card_check"),
    path(
        "review/applications/<int:pk>/objections/<int:objection_id>/resolve/",
        resolve_objection,
        name="objection_resolve",
    ),
]
