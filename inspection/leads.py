"""The inspectors' cross-check pages (大数据比对): the leads of their county with counts by
rule and by village (a chart beside its table), filters and an Excel export; one page per
lead (its evidence, the household, the application's timeline, the disposition); the
departments' lists and their upload; and the start of a scan. The live red flags (recusals,
shared cards, payments held, paid amounts that differ) are the last part of the leads page.
Every read of leads is on the record (``crosscheck.services.leads_read_record``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from applications.models import Area
from applications.selectors import kin_declarations_visible_to
from approvals.selectors import application_timeline
from common import clock
from common.charts import bar_chart
from common.errors import InvalidInput, NotFound, ServiceError
from common.replica import replica_reads_view
from crosscheck.evidence import lead_sentence, rule_label
from crosscheck.formats import headers_of
from crosscheck.models import Lead, ReferenceList
from crosscheck.rules import RULES
from crosscheck.selectors import (
    crosscheck_counties,
    lead_counts,
    leads_filtered,
    lists_in_force_ids,
    reference_lists_visible_to,
    scans_visible_to,
)
from crosscheck.services import (
    lead_dispose,
    lead_read,
    leads_read_record,
    reference_list_upload,
    scan_request,
)
from inspection.exports import neutralise, xlsx_bytes
from inspection.selectors import (
    MAX_RED_FLAGS,
    kin_flags_for_inspection,
    payments_held_visible_to,
    shared_cards_visible_to,
)
from inspection.views import inspector_required
from payments.selectors import payment_discrepancies_visible_to

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the leads -------------------------------------------------------------------------------


class LeadFilterForm(forms.Form):
    rule = forms.ChoiceField(label=gettext_lazy("Rule"), required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("all"))] + list(Lead.Status.choices),
    )
    severity = forms.ChoiceField(
        label=gettext_lazy("Severity"),
        required=False,
        choices=[("", gettext_lazy("all"))] + list(Lead.Severity.choices),
    )
    area = forms.ChoiceField(label=gettext_lazy("Village"), required=False)
    household = forms.IntegerField(
        label=gettext_lazy("Household no."), required=False, min_value=1, max_value=2**31 - 1
    )
    scan = forms.IntegerField(
        label=gettext_lazy("Scan no."), required=False, min_value=1, max_value=2**31 - 1
    )

    def __init__(self, *args: Any, villages: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", _("all"))] + [  # type: ignore[attr-defined]
            (r.code, rule_label(r.code)) for r in RULES
        ]
        self.fields["area"].choices = [("", _("all"))] + villages  # type: ignore[attr-defined]


def _counties(user: Any) -> list[tuple[str, str]]:
    """The counties the user works on, (6-digit code, name): one choice for most
    inspectors, several for a prefecture's or an administrator."""
    codes = crosscheck_counties(user)
    counties = Area.objects.filter(level=Area.Level.COUNTY).order_by("code")
    if codes is not None:
        counties = counties.filter(code__in=[c.ljust(12, "0") for c in codes])
    return [(code[:6], f"{name} {code[:6]}") for code, name in counties.values_list("code", "name")]


def _villages(user: Any) -> dict[str, str]:
    """The names of the villages that have leads the user reads."""
    codes = set(
        leads_filtered(user, filters={}).order_by().values_list("area_code", flat=True).distinct()
    )
    return dict(Area.objects.filter(code__in=codes).order_by("code").values_list("code", "name"))


def _filters(form: LeadFilterForm) -> dict[str, Any]:
    if not form.is_valid():
        return {}
    return {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}


@inspector_required
@require_GET
@replica_reads_view
def leads_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    crosscheck_counties(user)
    names = _villages(user)
    form = LeadFilterForm(request.GET or None, villages=sorted(names.items()))
    filters = _filters(form) if request.GET else {}
    qs = leads_filtered(user, filters=filters).select_related("household", "application")
    counts = lead_counts(leads_filtered(user, filters=filters))
    page = Paginator(qs.order_by("-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    leads_read_record(actor=user, leads=rows, filters=filters, what="list")
    query = urlencode({k: v for k, v in filters.items()})
    by_rule = [
        (
            rule_label(c["rule"]),
            c["total"],
            c["open"],
            f"?{urlencode({**filters, 'rule': c['rule']})}",
        )
        for c in counts["by_rule"]
    ]
    by_area = [
        (
            names.get(c["area_code"], c["area_code"]),
            c["total"],
            c["open"],
            f"?{urlencode({**filters, 'area': c['area_code']})}",
        )
        for c in counts["by_area"]
    ]
    latest = scans_visible_to(user).first()
    return render(
        request,
        "inspection/leads.html",
        {
            "form": form,
            "page": page,
            "leads": [
                (
                    lead,
                    rule_label(lead.rule),
                    lead_sentence(lead.rule, lead.facts),
                    names.get(lead.area_code, lead.area_code),
                )
                for lead in rows
            ],
            "by_rule": by_rule,
            "by_area": by_area,
            "rule_chart": bar_chart([(label, total, link) for label, total, _o, link in by_rule]),
            "area_chart": bar_chart([(label, total, link) for label, total, _o, link in by_area]),
            "query": query,
            "latest_scan": latest,
            "counties": _counties(user),
            **_red_flags(user),
        },
    )


def _red_flags(user: Any) -> dict[str, Any]:
    """The live red flags: what holds a payment or recuses an official now."""
    return {
        "kin_flags": list(kin_flags_for_inspection(user)[:MAX_RED_FLAGS]),
        "shared_cards": shared_cards_visible_to(user),
        "held": payments_held_visible_to(user, now=clock.now(), limit=MAX_RED_FLAGS),
        "discrepancies": payment_discrepancies_visible_to(user, limit=MAX_RED_FLAGS),
        "declarations": list(
            kin_declarations_visible_to(user)
            .select_related("official")
            .order_by("-created_at", "-pk")[:MAX_RED_FLAGS]
        ),
    }


EXPORT_MAX = 10_000


@inspector_required
@require_GET
@replica_reads_view
def leads_export_xlsx(request: HttpRequest) -> HttpResponse:
    user = request.user
    crosscheck_counties(user)
    form = LeadFilterForm(request.GET or None, villages=sorted(_villages(user).items()))
    filters = _filters(form) if request.GET else {}
    leads = list(
        leads_filtered(user, filters=filters)
        .select_related("household", "application__program")
        .order_by("-pk")[: EXPORT_MAX + 1]
    )
    more = len(leads) > EXPORT_MAX
    leads = leads[:EXPORT_MAX]
    leads_read_record(actor=user, leads=leads, filters=filters, what="export")
    header = [
        _("Lead no."),
        _("Rule"),
        _("Severity"),
        _("Area code"),
        _("Household no."),
        _("Head of household"),
        _("Person"),
        _("Application no."),
        _("Evidence"),
        _("Status"),
        _("Note"),
        _("First found by scan"),
    ]
    rows: Iterable[list[str]] = (
        [
            neutralise(v)
            for v in (
                lead.pk,
                rule_label(lead.rule),
                lead.get_severity_display(),
                lead.area_code,
                lead.household_id or "",
                lead.household.head_name if lead.household else "",
                lead.person_masked,
                lead.application_id or "",
                lead_sentence(lead.rule, lead.facts),
                lead.get_status_display(),
                lead.note,
                lead.first_seen_scan_id,
            )
        ]
        for lead in leads
    )
    if more:
        note = _("Only the newest %(n)s leads: narrow the filters for the others.") % {
            "n": f"{EXPORT_MAX:,}"
        }
        rows = itertools.chain(rows, [[note]])
    data, _truncated = xlsx_bytes(header, rows, title=_("Leads"))
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = (
        f'attachment; filename="leads-{clock.now():%Y%m%d-%H%M%S}.xlsx"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


class DispositionForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Conclusion"), choices=Lead.Status.choices)
    note = forms.CharField(
        label=gettext_lazy("What you found"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@dataclass(frozen=True)
class FactRow:
    label: str
    value: str


def _fact_rows(lead: Lead) -> list[FactRow]:
    listed = lead.facts.get("list")
    rows: list[FactRow] = []
    if listed:
        rows += [
            FactRow(_("List"), str(ReferenceList.Kind(listed["kind"]).label)),
            FactRow(_("Source"), str(listed.get("source", ""))),
            FactRow(_("As of"), str(listed.get("as_of", ""))),
            FactRow(_("SHA-256 of the file"), str(listed.get("sha256", ""))),
        ]
        rows += [
            FactRow(
                _("Row %(row)s of the list") % {"row": r.get("row")},
                "，".join(
                    str(r[k]) for k in ("name", "detail", "category", "value", "date") if r.get(k)
                ),
            )
            for r in lead.facts.get("rows", [])
        ]
    return rows


@inspector_required
@require_http_methods(["GET", "POST"])
@replica_reads_view
def lead_page(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    crosscheck_counties(user)
    form = DispositionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lead_dispose(
                actor=user,
                lead_id=pk,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except InvalidInput as error:
            for field, problems in error.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        except NotFound:
            raise Http404 from None
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The conclusion is on the record."))
            return redirect("inspection:lead", pk=pk)
    try:
        lead = lead_read(actor=user, lead_id=pk)
    except NotFound:
        raise Http404 from None
    history = _history(lead)
    return render(
        request,
        "inspection/lead.html",
        {
            "lead": lead,
            "rule": rule_label(lead.rule),
            "sentence": lead_sentence(lead.rule, lead.facts),
            "facts": _fact_rows(lead),
            "village": Area.objects.filter(code=lead.area_code)
            .values_list("name", flat=True)
            .first(),
            "timeline": application_timeline(lead.application) if lead.application else [],
            "members": list(lead.household.members.order_by("pk")) if lead.household else [],
            "history": history,
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


def _history(lead: Lead) -> list[Any]:
    from audit.selectors import audit_history_of

    return [
        e
        for e in audit_history_of(object_type="lead", object_id=lead.pk)
        if e.action in ("lead.dispose", "lead.reopen")
    ]


# --- the lists and the scans ----------------------------------------------------------------


class ListUploadForm(forms.Form):
    county = forms.ChoiceField(label=gettext_lazy("County"), required=False)
    kind = forms.ChoiceField(label=gettext_lazy("Kind of list"), choices=ReferenceList.Kind.choices)
    source = forms.CharField(label=gettext_lazy("From which department"), max_length=200)
    as_of = forms.DateField(
        label=gettext_lazy("Date of the list"), widget=forms.DateInput(attrs={"type": "date"})
    )
    file = forms.FileField(label=gettext_lazy("File (.xlsx or .csv)"))


@inspector_required
@require_http_methods(["GET", "POST"])
@replica_reads_view
def lists_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    counties = _counties(user)
    form = ListUploadForm(request.POST or None, request.FILES or None)
    form.fields["county"].choices = counties  # type: ignore[attr-defined]
    if len(counties) == 1:
        form.fields["county"].initial = counties[0][0]
        form.fields["county"].widget = forms.HiddenInput()
    uploaded = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            uploaded = reference_list_upload(
                actor=user,
                kind=form.cleaned_data["kind"],
                source=form.cleaned_data["source"],
                as_of=form.cleaned_data["as_of"],
                file=upload,
                file_name=upload.name or "",
                county=form.cleaned_data["county"] or None,
            )
        except InvalidInput as error:
            for field, problems in error.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                _("The list is kept: %(kept)s of %(read)s rows, %(skipped)s skipped.")
                % {
                    "kept": uploaded.rows_kept,
                    "read": uploaded.rows_read,
                    "skipped": uploaded.rows_skipped,
                },
            )
            return redirect(f"{reverse('inspection:lists')}#list-{uploaded.pk}")
    lists = list(reference_lists_visible_to(user)[:200])
    in_force = lists_in_force_ids(x.county_code for x in lists)
    return render(
        request,
        "inspection/lists.html",
        {
            "form": form,
            "lists": lists,
            "in_force": in_force,
            "counties": counties,
            "columns": [
                (label, "、".join(headers_of(kind))) for kind, label in ReferenceList.Kind.choices
            ],
        },
        status=400 if request.method == "POST" else 200,
    )


@inspector_required
@require_POST
def scan_start(request: HttpRequest) -> HttpResponse:
    try:
        scan = scan_request(actor=request.user, county=request.POST.get("county") or None)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Scan %(scan)s has started; it runs in the background.") % {"scan": scan.pk}
        )
    return redirect("inspection:leads")


@inspector_required
@require_GET
def red_flags_page(request: HttpRequest) -> HttpResponse:
    """The red flags are the last part of the leads page now."""
    return redirect(reverse("inspection:leads") + "#flags")
