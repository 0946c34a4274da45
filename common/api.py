"""Service errors become HTTP answers: 400 with field errors; 403, 404 and 409 with the
message as ``detail`` and the refusal's stable code (``common.errors.Code``) as ``code``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import Code, InvalidInput, ServiceError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        body: dict[str, Any] = dict(exc.as_dict())
        # A file or a request refused as a whole for a reason of its own says which.
        if exc.code != Code.INVALID and "code" not in body:
            body["code"] = exc.code
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ServiceError):
        return Response(
            {"detail": exc.message, "code": exc.code},
            status=exc.status_code,
            headers=exc.headers or None,
        )
    if isinstance(exc, DjangoValidationError):
        return Response(InvalidInput(exc).as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (DataError, OverflowError)):
        # A value the database cannot hold (a number past its range, a date past its
        # calendar): the request is wrong, not the server.
        from django.utils.translation import gettext as _

        return Response(
            {"detail": _("A value in the request is out of range."), "code": Code.INVALID},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        from django.utils.translation import gettext as _

        return Response(
            {"detail": _("Not found."), "code": Code.NOT_FOUND}, status=status.HTTP_404_NOT_FOUND
        )
    response = drf_exception_handler(exc, context)
    # A 400 always names its problems as lists (a body that is not JSON included).
    if (
        response is not None
        and response.status_code == 400
        and isinstance(response.data, dict)
        and isinstance(response.data.get("detail"), str)
    ):
        response.data = {"detail": [response.data["detail"]]}
    # DRF's own refusals (not signed in, no permission, no such page) carry a code too.
    if response is not None and isinstance(response.data, dict) and "code" not in response.data:
        code = next((c for kind, c in _DRF_CODES if isinstance(exc, kind)), None)
        if code is not None:
            response.data["code"] = code
    return response


_DRF_CODES = (
    (exceptions.NotAuthenticated, Code.NOT_SIGNED_IN),
    (exceptions.AuthenticationFailed, Code.NOT_SIGNED_IN),
    (exceptions.PermissionDenied, Code.ROLE),
    (exceptions.NotFound, Code.NOT_FOUND),
)


# The codes as the schema names them (``RefusalCodeEnum``: the settings' enum override
# matches on these pairs).
CODE_CHOICES = [(c.value, c.name) for c in Code]


class RefusalSerializer(serializers.Serializer[Any]):
    """The body of a 403, 404 or 409: what to tell the user, and why, as a stable code."""

    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=CODE_CHOICES)


# The body of a 400: each field's (or ``detail``'s) messages, for ``extend_schema``.
FIELD_ERRORS: dict[str, Any] = {
    "type": "object",
    "properties": {
        # A request with a field named ``code`` (a verification code) has its errors here.
        "code": {
            "anyOf": [{"type": "string", "enum": [c.value for c in Code]}, {"type": "array"}],
            "description": "Why the request was refused as a whole, when a rule of its own "
            "refused it (a file that does not fit, a file sent twice); absent for plain field "
            "errors; the field's problems when the request has a field named code.",
        }
    },
    "additionalProperties": {
        "anyOf": [{"type": "array"}, {"type": "object"}],
        "description": "The field's problems: sentences; for a list, each element's problems "
        "by its position (an object), or each object's own field errors.",
    },
    "description": "Each field's problems (``detail``: the request's as a whole).",
}


# The answers of an endpoint that may refuse, for ``extend_schema(responses=...)``.
REFUSALS = {403: RefusalSerializer, 404: RefusalSerializer, 409: RefusalSerializer}


# ``Prefer: return=minimal`` (RFC 7240): a client that only needs to know a step was taken
# (a bank's system, a batch) gets 204 and no body, and the server skips reading the
# application again to describe it.
PREFER = OpenApiParameter(
    "Prefer",
    str,
    OpenApiParameter.HEADER,
    required=False,
    enum=["return=minimal", "return=representation"],
    description="return=minimal: answer 204 without the application (RFC 7240).",
)


def prefers_minimal(request: Any) -> bool:
    """Does the request ask ``Prefer: return=minimal`` (among other preferences, with
    parameters, spaces or quotes as RFC 7240 allows)?"""
    for preference in request.headers.get("Prefer", "").split(","):
        asked = preference.split(";", 1)[0].replace(" ", "").replace('"', "").lower()
        if asked == "return=minimal":
            return True
    return False
