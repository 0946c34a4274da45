"""The schema says every answer an operation may give (issue 14, item 3); what
scripts/schemathesis.sh then checks against the live server."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]  # schemathesis's, without stubs
import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import World

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(path))
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "patch", "put", "delete")
    ]


def test_every_operation_documents_its_refusals(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path} {code}"
        for path, method, operation in _operations(schema)
        for code in ("400", "401", "403", "404", *(["409"] if method != "get" else []))
        if code not in operation["responses"]
    ]
    assert missing == []


def test_every_signed_in_operation_takes_the_api_token(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["knoxApiToken"]
    without = [
        f"{method.upper()} {path}"
        for path, method, operation in _operations(schema)
        if {"knoxApiToken": []} not in operation.get("security", [])
    ]

    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert without == []


def test_the_objections_of_an_application_are_a_list_and_a_new_one_is_201(
    schema: dict[str, Any],
) -> None:
    item = schema["paths"]["/api/v1/applications/{id}/objections/"]
    listed = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array"
    assert "201" in item["post"]["responses"] and "200" not in item["post"]["responses"]


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/api/v1/households/", {"name", "id_last4", "status", "area"}),
        ("/api/v1/objections/", {"status"}),
        ("/api/v1/documents/", {"kind", "application"}),
        ("/api/v1/areas/", {"level"}),
    ],
)
def test_list_filters_are_in_the_schema(schema: dict[str, Any], path: str, names: set[str]) -> None:
    documented = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
    assert names <= documented


def test_id_numbers_carry_their_pattern(schema: dict[str, Any]) -> None:
    household = schema["components"]["schemas"]["HouseholdCreate"]["properties"]
    assert household["head_id_number"]["pattern"] == r"^\d{17}[\dXx]$"


@pytest.mark.parametrize("size", ["null", "0", "201", "-1", "abc"])
def test_a_bad_page_size_is_a_field_error(world: World, size: str) -> None:
    client = APIClient()
    client.force_authenticate(world.user("inspector_a"))

    response = client.get(f"/api/v1/applications/?page_size={size}")

    assert response.status_code == 400 and "page_size" in response.json()


def test_a_body_that_is_not_json_is_a_field_error_in_the_documented_shape(world: World) -> None:
    client = APIClient()
    client.force_authenticate(world.user("cadre_v1"))

    response = client.post("/api/v1/households/", data=b"\x01", content_type="application/json")

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], list)


def test_a_page_size_in_other_digits_is_a_field_error(world: World) -> None:
    client = APIClient()
    client.force_authenticate(world.user("inspector_a"))

    response = client.get("/api/v1/applications/?page_size=%C2%B2")

    assert response.status_code == 400 and "page_size" in response.json()


def test_non_blank_fields_say_so(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert components["CardCheckInput"]["properties"]["reason"]["minLength"] == 1
    assert components["ObjectionResolve"]["properties"]["reason"]["minLength"] == 1
    assert components["HouseholdCreate"]["properties"]["bank_card"]["minLength"] == 1
    assert "or both" in components["Verify"]["properties"]["code"]["description"]


@pytest.mark.parametrize(
    "body",
    [
        {"file": ["表头不符"], "code": "reference_list_invalid"},
        {"code": ["请输入验证码或上传 PDF 文件。"]},  # a request field named code
        {"detail": ["x"]},
    ],
)
def test_field_errors_schema_takes_a_refusal_code_or_a_code_field(body: dict[str, Any]) -> None:
    from common.api import FIELD_ERRORS

    jsonschema.validate(body, FIELD_ERRORS)


def test_field_errors_schema_refuses_an_unknown_code() -> None:
    from common.api import FIELD_ERRORS

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"code": "no_such_code"}, FIELD_ERRORS)
