"""Download (signed in, scoped) and public verification (no sign-in). Thin: the reads are
in ``documents.selectors``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from documents.models import StoredDocument
from documents.selectors import document_get, document_verify

MAX_UPLOAD = 20 * 1024 * 1024


@login_required
@require_GET
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    try:
        document = document_get(request.user, pk)
    except StoredDocument.DoesNotExist:
        raise Http404 from None
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
        error = "文件过大(不超过 20 MB)。"
    elif upload is not None or code:
        result = document_verify(code=code, data=upload.read() if upload is not None else None)
    return render(
        request,
        "documents/verify.html",
        {"code": code, "result": result, "error": error},
        status=200,
    )
