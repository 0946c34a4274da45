"""The site's error answers: on the API (``/api/``) JSON in the user's language, with a
code, like every other API error; elsewhere the site's own pages (``templates/4xx.html``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from common.errors import Code


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse(
            {"detail": _("The request could not be understood."), "code": Code.INVALID.value},
            status=400,
        )
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse(
            {"detail": _("You may not do this."), "code": Code.ROLE.value}, status=403
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": _("Not found."), "code": Code.NOT_FOUND.value}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        return JsonResponse(
            {
                "detail": _(
                    "The server failed to answer. Try again, and tell the system "
                    "administrator if it happens again."
                ),
                "code": Code.SERVER_ERROR.value,
            },
            status=500,
        )
    return defaults.server_error(request)
