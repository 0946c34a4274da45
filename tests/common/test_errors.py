from __future__ import annotations

from django.core.exceptions import ValidationError

from common.errors import Code, Forbidden, InvalidInput, NotFound, Refusal, Refused


def test_each_error_carries_its_status_and_default_code() -> None:
    assert (NotFound("x").status_code, NotFound("x").code) == (404, Code.NOT_FOUND)
    assert (Forbidden("x").status_code, Forbidden("x").code) == (403, Code.ROLE)
    refused = Refused("x", code=Code.POSTING_OPEN)
    assert (refused.status_code, refused.code) == (409, Code.POSTING_OPEN)


def test_invalid_input_keeps_field_errors_and_a_code() -> None:
    error = InvalidInput({"items": ["too many"]}, code=Code.OVER_CAP)

    assert error.as_dict() == {"items": ["too many"]}
    assert (error.message, error.code, error.status_code) == ("too many", Code.OVER_CAP, 400)


def test_invalid_input_from_a_django_validation_error() -> None:
    fields = InvalidInput(ValidationError({"name": ["required"]}))
    plain = InvalidInput(ValidationError("bad"))

    assert fields.as_dict() == {"name": ["required"]}
    assert plain.as_dict() == {"detail": ["bad"]}


def test_refusal_becomes_refused_with_its_code() -> None:
    refusal = Refusal(Code.BUDGET_EXHAUSTED, "no money left")

    error = refusal.refused()

    assert (error.code, error.message) == (Code.BUDGET_EXHAUSTED, "no money left")
    assert refusal == Refusal(Code.BUDGET_EXHAUSTED, "no money left")
    assert refusal != Refusal(Code.OVER_CAP, "no money left")


def test_codes_are_unique_lowercase_slugs() -> None:
    values = [c.value for c in Code]

    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v for v in values)
