"""Download (signed in, scoped) and public verification (no sign-in). Thin: the reads are
in ``documents.selectors``."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from applications.models import Application, Area
from applications.selectors import application_get
from approvals.models import Attachment
from approvals.selectors import attachments_visible_to
from approvals.services.attachments import attachment_add
from common.errors import NotFound, ServiceError
from documents.models import DocumentBatch, StoredDocument
from documents.selectors import document_batches_visible_to, document_get, document_verify
from documents.services.batches import (
    DOCUMENT_BATCH_MAX_ATTEMPTS,
    batch_townships,
    document_batch_request,
)
from documents.services.issuing import document_issue, payment_list_issue
from documents.services.loan_documents import loan_card_issue, subsidy_list_issue

MAX_UPLOAD = 20 * 1024 * 1024


@login_required
@require_GET
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    try:
        document = document_get(request.user, pk)
    except StoredDocument.DoesNotExist:
        raise Http404 from None
    return _pdf_response(document)


# The documents a page issues with one button (the others have their own pages' views).
PAGE_KINDS = (
    StoredDocument.Kind.AGREEMENT,
    StoredDocument.Kind.DECISION_LETTER,
    StoredDocument.Kind.NOTICE,
    StoredDocument.Kind.BENEFITS_CARD,
)


def _next_or(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
@require_POST
def document_issue_page(request: HttpRequest) -> HttpResponseBase:
    """Issue (the first time) and download a document from the page that offers it: an
    application's agreement or decision letter, a village's notice, a household's
    benefits card. A refusal goes back to that page with its message."""
    kind = request.POST.get("kind", "")

    def number(name: str) -> int | None:
        value = request.POST.get(name, "")
        return int(value) if value.isdigit() and len(value) < 12 else None

    back = _next_or(request, reverse("workflows:home"))
    if kind not in PAGE_KINDS:
        messages.error(request, _("Choose the kind of document."))
        return redirect(back)
    try:
        document = document_issue(
            actor=request.user,
            kind=kind,
            application_id=number("application"),
            household_id=number("household"),
            village_code=request.POST.get("village", "")[:12],
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    return _pdf_response(document)


@login_required
@require_POST
def payment_list_download(request: HttpRequest, round_id: int) -> HttpResponseBase:
    """The payment list (发放清册) of a round, for signing: issued on the first request (a
    stored document with its verification code), served as it was since, until the bank's
    answers change the list."""
    try:
        document = payment_list_issue(actor=request.user, round_id=round_id)
    except NotFound:
        raise Http404 from None
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("payments:round", pk=round_id)
    return _pdf_response(document)


@login_required
@require_POST
def loan_card_download(request: HttpRequest, loan_id: int) -> HttpResponseBase:
    """The household's loan card (贷款明白卡), issued on the first request, served since."""
    try:
        document = loan_card_issue(actor=request.user, loan_id=loan_id)
    except NotFound:
        raise Http404 from None
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("loans:loan", pk=loan_id)
    return _pdf_response(document)


@login_required
@require_POST
def subsidy_list_download(request: HttpRequest) -> HttpResponseBase:
    """A bank's interest subsidy list (贴息清单) of a settlement day, for signing."""
    county = request.POST.get("county", "")
    back = f"{reverse('loans:subsidies')}?county={county}"
    try:
        period_end = date.fromisoformat(request.POST.get("period_end", ""))
        document = subsidy_list_issue(
            actor=request.user,
            county_code=county,
            bank_code=request.POST.get("bank", ""),
            period_end=period_end,
            payee=request.POST.get("payee", "bank"),
        )
    except ValueError:
        messages.error(request, _("Give the date as YYYY-MM-DD."))
        return redirect(back)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    return _pdf_response(document)


def _pdf_response(document: StoredDocument) -> FileResponse:
    response = FileResponse(
        document.file.open("rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{document.title}-{document.verification_code}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def document_verify_page(request: HttpRequest, code: str = "") -> HttpResponse:
    code = request.POST.get("code", "") or request.GET.get("code", "") or code
    upload = request.FILES.get("file") if request.method == "POST" else None
    error = ""
    result = None
    if upload is not None and upload.size is not None and upload.size > MAX_UPLOAD:
        error = _("The file is too large (at most %(size)d MB).") % {"size": MAX_UPLOAD // 2**20}
    elif upload is not None or code:
        result = document_verify(code=code, data=upload.read() if upload is not None else None)
    return render(
        request,
        "documents/verify.html",
        {"code": code, "result": result, "error": error},
        status=200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def batches_page(request: HttpRequest) -> HttpResponse:
    """Start a township batch, and the batches of the user's area. Only the townships the
    user may batch are offered; a user who may batch none is told who can."""
    error = ""
    if request.method == "POST":
        try:
            batch = document_batch_request(
                actor=request.user,
                kind=request.POST.get("kind", ""),
                township_code=request.POST.get("township", ""),
            )
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect("documents:batch", pk=batch.pk)
    batches = list(document_batches_visible_to(request.user)[:50])
    names = dict(
        Area.objects.filter(code__in={b.township_code for b in batches}).values_list("code", "name")
    )
    return render(
        request,
        "documents/batches.html",
        {
            "error": error,
            "kinds": DocumentBatch.Kind.choices,
            "townships": batch_townships(request.user),
            "batches": [(b, names.get(b.township_code, "")) for b in batches],
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def batch_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A batch's progress; refreshes itself every two seconds until it is finished."""
    batch = document_batches_visible_to(request.user).filter(pk=pk).first()
    if batch is None:
        raise Http404
    township = Area.objects.filter(code=batch.township_code).values_list("name", flat=True)
    return render(
        request,
        "documents/batch.html",
        {
            "batch": batch,
            "township_name": township.first() or "",
            "refresh": batch.status in (DocumentBatch.Status.QUEUED, DocumentBatch.Status.RUNNING),
            "max_attempts": DOCUMENT_BATCH_MAX_ATTEMPTS,
        },
    )


@login_required
@require_GET
def batch_download(request: HttpRequest, pk: int) -> FileResponse:
    batch = document_batches_visible_to(request.user).filter(pk=pk).first()
    if batch is None or batch.status != DocumentBatch.Status.DONE or not batch.zip_file:
        raise Http404
    response = FileResponse(
        batch.zip_file.open("rb"),
        content_type="application/zip",
        as_attachment=True,
        filename=f"{batch.kind}-{batch.township_code}-{batch.pk}.zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def signed_agreement_page(request: HttpRequest, application_id: int) -> HttpResponse:
    """The files on an application's record, and the upload of the signed agreement."""
    try:
        app = application_get(request.user, application_id)
    except Application.DoesNotExist:
        raise Http404 from None
    error = ""
    if request.method == "POST":
        try:
            attachment_add(
                actor=request.user,
                application_id=app.pk,
                kind=Attachment.Kind.SIGNED_AGREEMENT,
                file=request.FILES.get("file"),
            )
        except NotFound:
            raise Http404 from None
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect(f"{request.path}?uploaded=1")
    return render(
        request,
        "documents/signed_agreement.html",
        {
            "app": app,
            "attachments": attachments_visible_to(request.user)
            .filter(application=app)
            .select_related("uploaded_by"),
            "uploaded": request.GET.get("uploaded") == "1",
            "error": error,
        },
        status=400 if error else 200,
    )
