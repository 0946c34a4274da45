"""The API's schema tells every answer an operation may give: besides its success, 400 with
field errors, 401 when not signed in (or the token expired), 403 and 404 refusals, and for a
write 409 (a rule of the chain refused it). drf-spectacular's AutoSchema, with those added
where an operation does not say them itself."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from common.api import FIELD_ERRORS, RefusalSerializer


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        refusal = self._get_response_for_code(RefusalSerializer, "403")  # type: ignore[no-untyped-call]
        errors = {
            "description": "Bad input: each field's problems.",
            "content": {"application/json": {"schema": FIELD_ERRORS}},
        }
        too_long = {"description": "The address is too long for the server (its query)."}
        added = {
            "400": errors,
            "401": refusal,
            "403": refusal,
            "404": refusal,
            "414": too_long,
        }
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            added["409"] = refusal
        for code, response in added.items():
            responses.setdefault(code, response)
        return responses
