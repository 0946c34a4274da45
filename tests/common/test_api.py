from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from common.api import exception_handler
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused


def _answer(exc: Exception) -> tuple[int, object]:
    response = exception_handler(exc, {})
    assert response is not None
    return response.status_code, response.data


def test_refusals_answer_detail_and_code() -> None:
    assert _answer(Refused("later", code=Code.POSTING_OPEN)) == (
        409,
        {"detail": "later", "code": Code.POSTING_OPEN},
    )
    assert _answer(Forbidden("no")) == (403, {"detail": "no", "code": Code.ROLE})
    assert _answer(NotFound("gone")) == (404, {"detail": "gone", "code": Code.NOT_FOUND})


def test_django_404_answers_the_not_found_code() -> None:
    status, body = _answer(Http404())

    assert status == 404
    assert isinstance(body, dict) and body["code"] == Code.NOT_FOUND


def test_bad_input_answers_field_errors() -> None:
    assert _answer(InvalidInput({"ids": ["none"]})) == (400, {"ids": ["none"]})
    assert _answer(ValidationError({"name": ["required"]})) == (400, {"name": ["required"]})


def test_drf_refusals_answer_a_code_too() -> None:
    from rest_framework.exceptions import NotAuthenticated, PermissionDenied
    from rest_framework.exceptions import NotFound as DRFNotFound

    assert _answer(PermissionDenied())[1]["code"] == Code.ROLE  # type: ignore[index]
    assert _answer(DRFNotFound())[1]["code"] == Code.NOT_FOUND  # type: ignore[index]
    assert _answer(NotAuthenticated())[1]["code"] == Code.NOT_SIGNED_IN  # type: ignore[index]
