"""The public notice board (张榜公示), no sign-in: what each village has posted now, and a
form to raise an objection (异议), anonymously if one wishes; and after payment (事后公告),
what the bank paid to whom, the names masked, for the program's announcement days.

A notice shows the head of household's name, the program, the items, the amount and the
posting window; never an ID number, a phone number or a bank card, not even masked (the
reads go through ``approvals.selectors.notices_posted``, which does not fetch them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from applications.models import Area
from approvals import policy
from approvals.selectors import (
    notice_application_exists,
    notice_village_get,
    notice_villages,
    notices_posted,
)
from approvals.services.objections import objection_raise
from common import clock
from common.errors import ServiceError
from payments.selectors import announcing_villages, payment_announcements
from workflows.forms import ObjectionForm

RATE_WINDOW = 3600  # seconds


def objections_per_hour() -> int:
    """At most this many objections per client address per hour (a setting, default 5)."""
    return int(getattr(settings, "FUPIN_PUBLIC_OBJECTIONS_PER_HOUR", 5))


def _client_key(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says it is. Behind nginx,
    # common.middleware.ForwardedClient has set REMOTE_ADDR from the proxy's own header.
    return "fupin:public-objections:" + str(request.META.get("REMOTE_ADDR") or "unknown")


def _take_slot(request: HttpRequest) -> bool:
    """Count one objection for the client's address; False when the hour's quota is used
    up (nothing counted then). In production the count is in the database's cache table,
    shared by every web process (two objections sent in the same instant from one address
    may both be counted as the last allowed one)."""
    key = _client_key(request)
    cache.add(key, 0, RATE_WINDOW)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, RATE_WINDOW)
        used = 1
    if used > objections_per_hour():
        cache.decr(key)
        return False
    return True


def _give_back_slot(request: HttpRequest) -> None:
    try:
        cache.decr(_client_key(request))
    except ValueError:
        pass


@require_GET
def notice_index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:50]
    announced = announcing_villages(now=clock.now())
    villages = notice_villages(query=query, also=announced.keys())
    return render(
        request,
        "workflows/public/index.html",
        {
            "villages": [(v, posted, announced.get(v.code, 0)) for v, posted in villages],
            "q": query,
        },
    )


def _village_or_404(code: str) -> Area:
    if not (len(code) == 12 and code.isdigit()):
        raise Http404(_("No such village."))
    try:
        return notice_village_get(code)
    except Area.DoesNotExist:
        raise Http404(_("No such village.")) from None


# Stands for a posting's number in the blank form's ids; no label or widget contains it.
_ID = "__application__"


def _objection_fields(form: ObjectionForm) -> str:
    return render_to_string("workflows/public/_objection_fields.html", {"form": form})


def _render_notice(
    request: HttpRequest,
    village: Area,
    *,
    failed_for: int | None = None,
    failed_form: ObjectionForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    rows: list[dict[str, Any]] = []
    now = clock.now()
    notices = notices_posted(village.code)
    # Every posting has the same blank form but for its ids: rendered once, through Django's
    # widgets, then given each posting's number (rendering it per posting was most of the
    # page's time). The form that failed is rendered with its values and errors.
    blank = _objection_fields(ObjectionForm(public=True, auto_id=f"o{_ID}_%s"))
    for notice in notices:
        failed = failed_form if notice.application_id == failed_for else None
        rows.append(
            {
                "notice": notice,
                "days_left": policy.posting_days_left(notice.posting_ends_at, now=now),
                "fields": (
                    _objection_fields(failed)
                    if failed is not None
                    else mark_safe(blank.replace(_ID, str(notice.application_id)))  # noqa: S308
                ),
                "open": failed is not None,
            }
        )
    return render(
        request,
        "workflows/public/notice.html",
        {
            "village": village,
            "rows": rows,
            "error": error,
            "failed_for": failed_for,
            "payments": payment_announcements(village.code, now=now),
        },
        status=status,
    )


@require_GET
def notice(request: HttpRequest, code: str) -> HttpResponse:
    return _render_notice(request, _village_or_404(code))


@require_POST
def notice_object(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    village = _village_or_404(code)
    if not notice_application_exists(village_code=village.code, application_id=pk):
        raise Http404(_("No such application on this notice board."))
    form = ObjectionForm(request.POST, public=True, auto_id=f"o{pk}_%s")
    if not form.is_valid():
        return _render_notice(request, village, failed_for=pk, failed_form=form, status=400)
    if not _take_slot(request):
        return _render_notice(
            request,
            village,
            failed_for=pk,
            failed_form=form,
            error=_(
                "Too many objections from your network in the last hour: at most %(n)s. "
                "Please try again later, or tell the township office directly."
            )
            % {"n": objections_per_hour()},
            status=429,
        )
    try:
        objection_raise(
            actor=request.user,
            application_id=pk,
            text=form.cleaned_data["text"],
            raised_by_name=form.cleaned_data["raised_by_name"],
            contact=form.cleaned_data["contact"],
            public=True,
        )
    except ServiceError as exc:
        _give_back_slot(request)
        return _render_notice(
            request,
            village,
            failed_for=pk,
            failed_form=form,
            error=exc.message,
            status=exc.status_code,
        )
    messages.success(
        request,
        _(
            "Your objection was received. The township office will look into it before the "
            "application goes further."
        ),
    )
    return redirect("workflows:notice", code=village.code)


urlpatterns = [
    path("notice/", notice_index, name="notice_index"),
    path("notice/<str:code>/", notice, name="notice"),
    path("notice/<str:code>/<int:pk>/objection/", notice_object, name="notice_object"),
]
