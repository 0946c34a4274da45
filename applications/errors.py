"""Errors a user can cause. Each carries a message in the user's language and leaves the
database as it was."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: Any, *, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.code = code
        self.field = field

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field or "detail": [self.message]}


class InvalidInput(ServiceError):
    """Bad input: 400, with field errors."""

    def __init__(self, errors: dict[str, list[str]] | ValidationError) -> None:
        if isinstance(errors, ValidationError):
            errors = (
                {k: [str(m) for m in v] for k, v in errors.message_dict.items()}
                if hasattr(errors, "error_dict")
                else {"detail": [str(m) for m in errors.messages]}
            )
        self.errors = errors
        first = next(iter(errors.values()), [""])
        super().__init__(first[0] if first else "", code="invalid")

    def as_dict(self) -> dict[str, list[str]]:
        return self.errors


class NotFound(ServiceError):
    """Absent, or outside the user's area (the same answer for both)."""

    status_code = 404


class Forbidden(ServiceError):
    """Visible to the user, but their role may not do this."""

    status_code = 403


class Refused(ServiceError):
    """The step is not allowed now (wrong state, a rule, or someone acted first)."""

    status_code = 409
