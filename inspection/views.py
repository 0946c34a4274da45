"""Pages for disciplinary inspectors (纪检监察员): search the audit trail of their county,
export it, verify the ledger. They read everything in their county and change nothing; the
one thing they write is the record that they verified or exported."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from applications.roles import Role
from applications.selectors import (
    is_everywhere,
    scope_prefixes,
)
from approvals.labels import ACTION_LABELS
from approvals.selectors import audit_chains_visible_to, audit_search
from audit.anchors import Anchor, AnchorFormatError, anchors_parse
from audit.models import AuditEntry
from audit.services import audit_anchor_create
from audit.verify import Report
from common import clock
from common.actors import Actor
from common.replica import replica_alias, replica_reads_view
from inspection.exports import audit_header, audit_rows, csv_lines, xlsx_bytes
from inspection.services import audit_export_record, audit_verify

R = TypeVar("R", bound=HttpResponseBase)
PAGE_SIZE = 50
SHOWN_PROBLEMS = 20


def is_inspector(user: Actor) -> bool:
    return is_everywhere(user) or bool(scope_prefixes(user, roles=[Role.INSPECTOR]))


def inspector_required(view: Callable[..., R]) -> Callable[..., R]:
    """Signed in (else to the sign-in page) and an inspector somewhere (else 403)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> R:
        if not is_inspector(request.user):
            raise PermissionDenied(_("These pages are for disciplinary inspectors."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


class AuditSearchForm(forms.Form):
    application = forms.IntegerField(
        label=gettext_lazy("Application no."), required=False, min_value=1
    )
    household = forms.CharField(
        label=gettext_lazy("Household (no. or head's name)"), required=False, max_length=50
    )
    actor = forms.CharField(
        label=gettext_lazy("Person (user name)"), required=False, max_length=150
    )
    action = forms.CharField(label=gettext_lazy("Action"), required=False, max_length=64)
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"),
        required=False,
        choices=[("", gettext_lazy("any")), *AuditEntry.Outcome.choices],
    )
    since = forms.DateField(label=gettext_lazy("From (date)"), required=False)
    until = forms.DateField(label=gettext_lazy("Until (date, inclusive)"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise forms.ValidationError(_("The end date is before the start date."))
        return data


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _searched(request: HttpRequest, form: AuditSearchForm) -> QuerySet[AuditEntry]:
    """The user's entries matching the valid form (nothing when it is invalid)."""
    if not form.is_valid():
        return AuditEntry.objects.none()
    d = form.cleaned_data
    household = (d.get("household") or "").strip()
    since, until = d.get("since"), d.get("until")
    return audit_search(
        request.user,
        application_id=d.get("application"),
        household_id=int(household) if household.isdigit() else None,
        head_name="" if household.isdigit() else household,
        actor_name=(d.get("actor") or "").strip(),
        action=(d.get("action") or "").strip(),
        outcome=d.get("outcome") or "",
        since=_local_midnight(since) if since else None,
        until=_local_midnight(until + timedelta(days=1)) if until else None,
    )


# --- keyset pagination on (created_at, id), newest first -------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor_of(entry: AuditEntry) -> str:
    micros = (entry.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{entry.pk}"


def _parse_cursor(raw: str) -> tuple[datetime, int] | None:
    micros, sep, pk = raw.partition("-")
    if not sep or not micros.isdigit() or not pk.isdigit():
        return None
    return _EPOCH + timedelta(microseconds=int(micros)), int(pk)


@dataclass
class Page:
    entries: list[AuditEntry]
    newer: str | None  # cursor for the page before (newer entries)
    older: str | None  # cursor for the page after (older entries)


def _page(qs: QuerySet[AuditEntry], *, after: str, before: str) -> Page:
    """One page: entries older than ``after``, or newer than ``before``, or the newest."""
    older_than, newer_than = _parse_cursor(after), _parse_cursor(before)
    if newer_than is not None:
        t, pk = newer_than
        rows = list(
            qs.filter(Q(created_at__gt=t) | Q(created_at=t, id__gt=pk)).order_by(
                "created_at", "id"
            )[: PAGE_SIZE + 1]
        )
        if len(rows) > PAGE_SIZE:
            entries = list(reversed(rows[:PAGE_SIZE]))
            return Page(entries, _cursor_of(entries[0]), _cursor_of(entries[-1]))
        older_than = None  # fewer than a page is newer: the newest page it is
    elif older_than is not None:
        t, pk = older_than
        qs = qs.filter(Q(created_at__lt=t) | Q(created_at=t, id__lt=pk))
    rows = list(qs.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    entries = rows[:PAGE_SIZE]
    return Page(
        entries,
        _cursor_of(entries[0]) if older_than is not None and entries else None,
        _cursor_of(entries[-1]) if len(rows) > PAGE_SIZE else None,
    )


def _query_without_cursor(request: HttpRequest) -> str:
    params = [
        (k, v) for k, v in request.GET.items() if k not in ("after", "before", "page") and v != ""
    ]
    return urlencode(params)


@inspector_required
@require_GET
@replica_reads_view
def audit_search_page(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    qs = _searched(request, form) if form.is_bound else audit_search(request.user)
    page = _page(qs, after=request.GET.get("after", ""), before=request.GET.get("before", ""))
    return render(
        request,
        "inspection/search.html",
        {
            "form": form,
            "page": page,
            "query": _query_without_cursor(request),
            "actions": ACTION_LABELS.items(),
        },
    )


def _export_name(ext: str) -> str:
    return f"audit-{timezone.localtime(clock.now()):%Y%m%d-%H%M%S}.{ext}"


@inspector_required
@require_GET
def audit_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    form = AuditSearchForm(request.GET)
    # Streamed after the view returns: the queryset names the replica itself.
    qs = _searched(request, form).order_by("-created_at", "-id").using(replica_alias())
    audit_export_record(actor=request.user, kind="csv", search=_query_without_cursor(request))
    response = StreamingHttpResponse(
        csv_lines(audit_header(), audit_rows(qs)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_export_name("csv")}"'
    response["Cache-Control"] = "private, no-store"
    return response


@inspector_required
@require_GET
def audit_export_xlsx(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET)
    qs = _searched(request, form).order_by("-created_at", "-id").using(replica_alias())
    audit_export_record(actor=request.user, kind="xlsx", search=_query_without_cursor(request))
    data, _truncated = xlsx_bytes(audit_header(), audit_rows(qs), title=_("Audit trail"))
    response = HttpResponse(
        data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{_export_name("xlsx")}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- verifying the ledger --------------------------------------------------------------------


class AnchorForm(forms.Form):
    anchor = forms.CharField(
        label=gettext_lazy("Anchor to check against (optional)"),
        help_text=gettext_lazy(
            "Paste an anchor kept outside the database: a line of the anchor file, or the "
            "printed text. Only your county's chains in it are checked."
        ),
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
    )

    def clean_anchor(self) -> list[Anchor]:
        text = self.cleaned_data.get("anchor") or ""
        if not text.strip():
            return []
        try:
            return anchors_parse(text)
        except AnchorFormatError as error:
            raise forms.ValidationError(str(error)) from error


def _other_heads(anchors: list[Anchor], chains: list[str] | None) -> int:
    """How many heads of the anchors are of other counties (not checked for this user)."""
    if chains is None:
        return 0
    return sum(1 for a in anchors for h in a.heads if h.chain not in chains)


@inspector_required
@require_http_methods(["GET", "POST"])
def audit_verify_page(request: HttpRequest) -> HttpResponse:
    chains = audit_chains_visible_to(request.user)
    report: Report | None = None
    created: Anchor | None = None
    empty = False
    elapsed = 0.0
    form = AnchorForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and request.POST.get("action") == "anchor":
        form = AnchorForm()
        if chains is None or chains:
            created = audit_anchor_create(actor=request.user, chains=chains)
        if created is None or not created.heads:
            created, empty = None, True
    elif request.method == "POST" and form.is_valid():
        started = time.perf_counter()
        report = audit_verify(actor=request.user, anchors=form.cleaned_data["anchor"])
        elapsed = time.perf_counter() - started
    return render(
        request,
        "inspection/verify.html",
        {
            "chains": chains,
            "report": report,
            "problems": report.problems[:SHOWN_PROBLEMS] if report else [],
            "more": max(0, len(report.problems) - SHOWN_PROBLEMS) if report else 0,
            "elapsed": elapsed,
            "form": form,
            "created": created,
            "empty": empty,
            "other_heads": _other_heads(form.cleaned_data["anchor"], chains) if report else 0,
        },
    )
