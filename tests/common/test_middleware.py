"""Odd input answers 400 with the field named, never 500 (issue 14, items 1 and 2): NUL
bytes in a query, a path or a body, on the API and the pages; impossible dates; numbers past
the database's range."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from applications.models import Household
from approvals.models import Objection
from tests.factories import VILLAGE_1, S, World

pytestmark = pytest.mark.django_db

HUGE = "9" * 25


def api(world: World, username: str = "inspector_a") -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user(username))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit/?action=%00",
        "/api/v1/audit/?actor=%00",
        "/api/v1/audit/?outcome=%00",
        "/api/v1/households/?name=%00",
        "/api/v1/households/?id_last4=%00",
        "/api/v1/households/?status=%00",
        "/api/v1/households/?area=%00",
        "/api/v1/objections/?status=%00",
        "/api/v1/documents/?kind=%00",
        "/api/v1/areas/?level=%00",
        "/api/v1/applications/?status=%00",
    ],
)
def test_a_nul_byte_in_an_api_filter_is_a_field_error(world: World, url: str) -> None:
    response = api(world).get(url)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    field = url.split("?")[1].split("=")[0]
    assert field in response.json()


def test_a_nul_byte_in_an_api_path_is_json(world: World) -> None:
    response = api(world).get("/api/v1/areas/%00/")

    assert response.status_code in (400, 404)
    assert response["Content-Type"] == "application/json"


def test_a_nul_byte_in_a_json_body_is_refused_and_changes_nothing(world: World) -> None:
    app = world.application(S.POSTED, area_code=VILLAGE_1)

    response = api(world, "cadre_v1").post(
        f"/api/v1/applications/{app.pk}/objections/",
        data=json.dumps({"text": "有问题\u0000"}),
        content_type="application/json",
    )

    assert response.status_code == 400 and "body" in response.json()
    assert not Objection.objects.filter(application=app).exists()


def test_a_nul_byte_in_a_form_is_refused_on_the_page_and_changes_nothing(world: World) -> None:
    client = Client()
    client.force_login(world.user("cadre_v1"))
    household = world.household(VILLAGE_1)

    response = client.post(f"/cadre/households/{household.pk}/edit/", {"phone": "1391234\x005678"})

    assert response.status_code == 400
    assert "<header" in response.content.decode()
    assert Household.objects.get(pk=household.pk).phone == household.phone


def test_a_nul_byte_in_a_page_query_is_the_sites_400(world: World) -> None:
    client = Client()
    client.force_login(world.user("reviewer_t1"))

    response = client.get("/review/queue/?number=%00")

    assert response.status_code == 400 and "<header" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("until=2026-01-01T00:00:00%2B18:00", 200),
        ("since=2026-01-01T00:00:00-16:30", 200),
        ("since=2026-02-30T00:00:00", 400),
        ("until=0001-01-01T00:00:00%2B08:00", 400),
        ("since=yesterday", 400),
    ],
)
def test_audit_dates_with_any_offset_work_and_impossible_ones_are_field_errors(
    world: World, query: str, status: int
) -> None:
    response = api(world).get(f"/api/v1/audit/?{query}")

    assert response.status_code == status
    if status == 400:
        assert query.split("=")[0] in response.json()


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/audit/?application={HUGE}",
        f"/api/v1/applications/{HUGE}/",
        f"/api/v1/households/{HUGE}/",
        f"/api/v1/documents/?application={HUGE}",
    ],
)
def test_numbers_past_the_databases_range_are_not_a_server_error(world: World, url: str) -> None:
    response = api(world).get(url)

    assert response.status_code in (400, 404)
    assert response["Content-Type"] == "application/json"


def test_a_page_with_a_number_past_the_range_is_not_a_server_error(world: World) -> None:
    client = Client()
    client.force_login(world.user("reviewer_t1"))

    response = client.get(f"/review/applications/{HUGE}/")

    assert response.status_code in (400, 404)


# --- the client's address behind the proxy (ForwardedClient) ---------------------------


def client_address(remote: str, forwarded: str | None) -> str:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from common.middleware import ForwardedClient

    seen: list[str] = []

    def view(request: object) -> HttpResponse:
        seen.append(request.META["REMOTE_ADDR"])  # type: ignore[attr-defined]
        return HttpResponse()

    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    ForwardedClient(view)(request)
    return seen[0]


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("127.0.0.1", "10.1.1.1", "10.1.1.1"),  # nginx on the same machine
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("127.0.0.1", "6.6.6.6, 10.1.1.1", "10.1.1.1"),  # the client wrote the first itself
        ("127.0.0.1", "10.1.1.1, 127.0.0.1", "10.1.1.1"),  # two proxies of ours
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("10.5.5.5", "10.1.1.1", "10.5.5.5"),  # a client talking to gunicorn directly
        ("::ffff:127.0.0.1", "10.1.1.1", "10.1.1.1"),  # gunicorn listening on [::]
        ("10.8.0.7", "10.1.1.1", "10.1.1.1"),  # a proxy of the network 10.8.0.0/24
    ],
)
def test_the_clients_address_is_believed_from_our_proxy_only(
    remote: str, forwarded: str | None, expected: str, settings: Any
) -> None:
    settings.FUPIN_FORWARDED_ALLOW_IPS = ["127.0.0.1", "::1", "10.8.0.0/24"]

    assert client_address(remote, forwarded) == expected


def test_a_proxy_setting_that_is_no_address_stops_the_site(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from common.middleware import ForwardedClient

    settings.FUPIN_FORWARDED_ALLOW_IPS = ["127.0.0.1", "*"]

    with pytest.raises(ImproperlyConfigured, match="'\\*' is not an address or a network"):
        ForwardedClient(lambda request: None)  # type: ignore[arg-type,return-value]
