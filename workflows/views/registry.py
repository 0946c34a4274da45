"""The registry in and out of sheets, for village cadres and township reviewers: the
template, the import (upload, the dry run's report, confirm), and the exports of the
household and application lists. Thin: the services decide, a refusal is a message."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from applications.exports import XLSX, applications_export, export_format, households_export
from applications.imports import (
    household_import_confirm,
    household_import_start,
    importer_prefixes,
)
from applications.models import HouseholdImport
from applications.registry_sheet import HEADERS, registry_template
from common.confirm import confirmation_page
from common.errors import Forbidden, InvalidInput, ServiceError
from common.sheets import sheet_response
from workflows.forms import Form

RECENT = 10


class ImportForm(Form):
    file = forms.FileField(label=gettext_lazy("The filled-in template (.xlsx or .csv)"))


def _importer(request: HttpRequest) -> None:
    try:
        importer_prefixes(request.user)
    except Forbidden as error:
        raise PermissionDenied(error.message) from None


@login_required
def registry_import(request: HttpRequest) -> HttpResponse:
    """Upload a sheet: it is checked first (a dry run), never imported straight away."""
    _importer(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = household_import_start(
                actor=request.user, file=upload, file_name=upload.name or "", dry_run=True
            )
        except InvalidInput as error:
            for message in error.errors.get("file", [error.message]):
                form.add_error("file", message)
        else:
            return redirect("workflows:registry_import_report", pk=job.pk)
    recent = HouseholdImport.objects.filter(requested_by_id=request.user.pk)[:RECENT]
    return render(
        request,
        "workflows/registry/import.html",
        {"form": form, "recent": recent, "headers": HEADERS},
    )


@login_required
def registry_import_report(request: HttpRequest, pk: int) -> HttpResponse:
    job = HouseholdImport.objects.filter(pk=pk, requested_by_id=request.user.pk).first()
    if job is None:
        raise Http404(_("No such import of yours."))
    waiting = job.status in (HouseholdImport.Status.QUEUED, HouseholdImport.Status.RUNNING)
    applied_by = job.applications.exclude(status=HouseholdImport.Status.FAILED).first()
    return render(
        request,
        "workflows/registry/report.html",
        {
            "job": job,
            "refresh": waiting,
            "applied_by": applied_by,
            "can_confirm": (
                job.dry_run
                and job.status == HouseholdImport.Status.DONE
                and not job.problem_count
                and bool(job.stored_name)
                and applied_by is None
            ),
            "more_problems": max(job.problem_count - len(job.problems), 0),
        },
    )


@login_required
@require_POST
def registry_import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    asked = confirmation_page(
        request,
        _("Register every household of this file?"),
        cancel_url=reverse("workflows:registry_import_report", args=[pk]),
    )
    if asked is not None:
        return asked
    try:
        job = household_import_confirm(actor=request.user, import_id=pk)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("workflows:registry_import_report", pk=pk)
    if job.applied:
        messages.success(
            request,
            _("%(n)s households were registered from the file.") % {"n": job.households_created},
        )
    return redirect("workflows:registry_import_report", pk=job.pk)


@login_required
def registry_template_download(request: HttpRequest) -> FileResponse:
    return FileResponse(
        registry_template(),
        as_attachment=True,
        filename="registry-template.xlsx",
        content_type=XLSX,
    )


@login_required
def households_download(request: HttpRequest) -> HttpResponseBase:
    """The households of the reader's list, in the template's layout."""
    try:
        fmt = export_format(request.GET.get("format"))
        reveal = request.GET.get("reveal_id_number", "") in ("1", "true")
        out = households_export(actor=request.user, params=request.GET, fmt=fmt, reveal=reveal)
    except Forbidden as error:
        raise PermissionDenied(error.message) from None
    except InvalidInput as error:
        messages.error(request, error.message)
        return redirect("workflows:home")
    return sheet_response(
        out.header,
        out.rows,
        fmt=fmt,
        filename=out.filename,
        title=out.title,
        text_columns=out.text_columns,
        widths=out.widths,
    )


@login_required
def applications_download(request: HttpRequest) -> HttpResponseBase:
    """The applications of the reader's list (the same filters)."""
    try:
        fmt = export_format(request.GET.get("format"))
        out = applications_export(actor=request.user, params=request.GET, fmt=fmt)
    except InvalidInput as error:
        messages.error(request, error.message)
        return redirect("workflows:home")
    return sheet_response(
        out.header,
        out.rows,
        fmt=fmt,
        filename=out.filename,
        title=out.title,
        text_columns=out.text_columns,
        widths=out.widths,
    )


urlpatterns = [
    path("households/import/", registry_import, name="registry_import"),
    path("households/import/<int:pk>/", registry_import_report, name="registry_import_report"),
    path(
        "households/import/<int:pk>/confirm/",
        registry_import_confirm,
        name="registry_import_confirm",
    ),
    path("households/template.xlsx", registry_template_download, name="registry_template"),
    path("households/export/", households_download, name="households_export"),
    path("applications/export/", applications_download, name="applications_export"),
]
