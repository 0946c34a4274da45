"""Every API error is JSON in the user's language, a 500 and an unknown address included;
the pages keep the site's own error pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory
from django.utils import translation

from common.error_pages import bad_request, page_not_found, permission_denied, server_error
from tests.factories import World

pytestmark = pytest.mark.django_db


def test_an_unknown_api_address_is_json(world: World) -> None:
    client = Client()
    client.force_login(world.user("inspector_a"))

    response = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_server_error_on_the_api_is_json_in_the_users_language() -> None:
    request = RequestFactory().get("/api/v1/applications/")

    with translation.override("zh-hans"):
        response = server_error(request)

    body = json.loads(response.content)
    assert response.status_code == 500 and body["code"] == "server_error"
    assert "服务器" in body["detail"]


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (bad_request, 400, "invalid"),
        (permission_denied, 403, "role"),
        (page_not_found, 404, "not_found"),
    ],
)
def test_the_other_api_errors_are_json_too(handler: object, status: int, code: str) -> None:
    response = handler(RequestFactory().get("/api/v1/x/"), Exception("x"))  # type: ignore[operator]

    assert response.status_code == status and json.loads(response.content)["code"] == code


def test_a_page_error_is_the_sites_page() -> None:
    response = server_error(RequestFactory().get("/review/queue/"))

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
