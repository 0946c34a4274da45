"""Pages. Thin: they read through the selectors and write through the services.

One module per kind of user: ``cadre`` (village cadres), ``review`` (queues, decisions and the
application page), ``kin`` (officials' declarations), ``public`` (the notice board, no
sign-in); the inspectors' pages are the ``inspection`` app's. Each module exposes
``urlpatterns``; ``workflows/urls.py`` joins them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from applications.models import Application, Area
from applications.permissions import grants_of
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import applications_visible_to
from approvals.services.access import access_refused
from common.actors import Actor
from common.replica import replica_reads
from common.sheets import neutralise, sheet_response

# A number no URL of this site contains by itself (the marker the URL is reversed with).
_MARKER = 987_654_321


def url_of_each(name: str) -> Callable[[int], str]:
    """``reverse(name, args=[pk])`` for the rows of a list at the cost of one ``reverse``:
    the URL is reversed once with a marker number, which each row's number replaces (the
    route's one argument is an ``int``, which prints as its digits)."""
    head, marker, tail = reverse(name, args=[_MARKER]).rpartition(str(_MARKER))
    if not marker:
        raise ValueError(f"{name} does not take one number")
    return lambda pk: f"{head}{int(pk)}{tail}"


def application_or_404(
    user: Actor, pk: int, *, roles: Iterable[str] | None = None, action: str = "application.view"
) -> Application:
    """The application if the user may see it (through ``roles`` only, when given), with its
    household, village, program and parameters; otherwise the attempt is recorded as
    ``action`` (``access_refused``) and the page is a 404."""
    app = (
        applications_visible_to(user, roles=roles)
        .select_related("household", "household__area", "program", "program_version")
        .filter(pk=pk)
        .first()
    )
    if app is None:
        access_refused(actor=user, application_id=pk, action=action)
        raise Http404(_("No such application in your area."))
    return app


def task_redirect(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """viewflow's human nodes need a view: ours opens the application's page."""
    activation = getattr(request, "activation", None)
    if activation is not None:
        return redirect("workflows:application", pk=activation.process.application_id)
    return redirect("workflows:home")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    counts = dict(
        applications_visible_to(request.user)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    # Each open state links to the queue filtered by it (closed states have no queue).
    by_state = [
        (value, label, counts.get(value, 0), value not in Application.CLOSED)
        for value, label in Application.Status.choices
    ]
    grants = [g for g in grants_of(request.user) if g.role != REVEAL_PERMISSION]
    roles = sorted({g.role for g in grants})
    names = dict(
        Area.objects.filter(code__in={g.area_code for g in grants}).values_list("code", "name")
    )
    return render(
        request,
        "workflows/home.html",
        {
            "by_state": by_state,
            "total": sum(counts.values()),
            "grants": [
                (Role(g.role).label, names.get(g.area_code, ""), g.area_code) for g in grants
            ],
            "roles": roles,
            "dashboard": _dashboard(request.user),
        },
    )


def _dashboard(user: Actor) -> Any:
    # Imported here: the flows import this module (their task views), and the dashboard
    # reads through the process layer's services.
    from workflows.dashboard import dashboard_read

    with replica_reads():
        return dashboard_read(user)


@login_required
def dashboard_csv(request: HttpRequest, key: str) -> HttpResponseBase:
    """One of the dashboard's figures as a CSV file: its table, as the page shows it."""
    from workflows.dashboard import dashboard_figure, has_dashboard

    # The reader's roles are read on the primary (and kept on the user for the figure).
    if not has_dashboard(request.user):
        raise Http404(_("No such figure."))
    with replica_reads():
        figure = dashboard_figure(request.user, key)
    if figure is None:
        raise Http404(_("No such figure."))
    header, rows = figure.csv_rows()
    return sheet_response(
        header,
        [[neutralise(c) for c in row] for row in rows],
        fmt="csv",
        filename=f"dashboard-{key}",
        title=figure.title,
    )


urlpatterns = [
    path("", home, name="home"),
    path("dashboard/<slug:key>.csv", dashboard_csv, name="dashboard_csv"),
]
