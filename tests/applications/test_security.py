"""Sign-in security (issue 14, items 4 and 5): failed sign-ins throttled per user name and
per address on the page and the API alike, recorded on the audit trail for inspectors, and
unlocked by an admin (audited); API tokens that expire and are revoked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from applications.security import tokens_expired_delete
from audit.models import AuditEntry
from tests.factories import COUNTY, World, password_of

pytestmark = pytest.mark.django_db
LIMIT = 5


def token_post(username: str, password: str, address: str = "10.0.0.1") -> object:
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def page_post(username: str, password: str, address: str = "10.0.0.2") -> object:
    return Client().post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )


def test_wrong_passwords_on_the_api_lock_the_user_out_with_when_to_retry(world: World) -> None:
    answers = [token_post("cadre_v1", "wrong").status_code for _ in range(LIMIT + 1)]  # type: ignore[attr-defined]
    right = token_post("cadre_v1", password_of("cadre_v1"))

    assert answers[: LIMIT - 1] == [400] * (LIMIT - 1)
    assert answers[LIMIT - 1 :] == [429, 429]
    assert right.status_code == 429  # type: ignore[attr-defined]
    assert right.json()["code"] == "locked_out"  # type: ignore[attr-defined]
    assert int(right["Retry-After"]) > 0  # type: ignore[index]
    assert not AuthToken.objects.exists()


def test_the_login_page_locks_out_too_and_says_when_in_chinese(world: World) -> None:
    for _ in range(LIMIT):
        page_post("reviewer_t1", "wrong")

    locked = page_post("reviewer_t1", password_of("reviewer_t1"))

    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "登录失败次数过多" in locked.content.decode()  # type: ignore[attr-defined]
    assert "_auth_user_id" not in locked.client.session  # type: ignore[attr-defined]


def test_failures_are_counted_per_address_across_user_names(world: World) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):
        token_post(name, "wrong", address="10.9.9.9")

    other_user = token_post("approver_a", password_of("approver_a"), address="10.9.9.9")
    elsewhere = token_post("approver_a", password_of("approver_a"), address="10.1.1.1")

    assert other_user.status_code == 429  # type: ignore[attr-defined]
    assert elsewhere.status_code == 200  # type: ignore[attr-defined]


def test_failures_and_lockouts_are_on_the_audit_trail_for_the_countys_inspectors(
    world: World,
) -> None:
    for _ in range(LIMIT):
        token_post("cadre_v1", "wrong")
    inspector = APIClient()
    inspector.force_authenticate(world.user("inspector_a"))

    failed = inspector.get("/api/v1/audit/?action=auth.login_failed").json()["results"]
    locked = inspector.get("/api/v1/audit/?action=auth.lockout").json()["results"]

    assert len(failed) == LIMIT and {e["outcome"] for e in failed} == {"refused"}
    assert failed[0]["object_id"] == "cadre_v1"
    assert len(locked) == 1
    entry = AuditEntry.objects.filter(action="auth.login_failed").first()
    assert entry is not None and entry.area_code == COUNTY
    assert entry.changes["address"] == [None, "10.0.0.1"]


def test_an_admin_unlocks_and_the_unlock_is_audited(world: World) -> None:
    from axes.models import AccessAttempt

    for _ in range(LIMIT):
        token_post("cadre_v1", "wrong")
    admin = get_user_model().objects.create_superuser("root_admin", "", "Qiang-Mima-2016")
    client = Client()
    client.force_login(admin)
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))

    response = client.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock", "_selected_action": [str(pk) for pk in attempts]},
    )

    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="auth.unlock", object_id="cadre_v1").exists()
    assert token_post("cadre_v1", password_of("cadre_v1")).status_code == 200  # type: ignore[attr-defined]


def test_each_sign_in_gets_its_own_token_with_an_expiry(world: World) -> None:
    first = token_post("cadre_v1", password_of("cadre_v1")).json()  # type: ignore[attr-defined]
    second = token_post("cadre_v1", password_of("cadre_v1")).json()  # type: ignore[attr-defined]

    assert first["token"] != second["token"]
    expiry = AuthToken.objects.order_by("created").first().expiry
    assert timedelta(hours=11) < expiry - timezone.now() <= timedelta(hours=12)


def _authorised(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_delete_revokes_the_token(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    client = _authorised(token)

    assert client.get("/api/v1/applications/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/applications/").status_code == 401


def test_an_expired_token_no_longer_works(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    assert _authorised(token).get("/api/v1/applications/").status_code == 401


def test_an_expired_token_is_deleted_when_presented(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    response = _authorised(token).get("/api/v1/applications/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_signed_in"
    assert not AuthToken.objects.exists()


def test_an_api_request_reads_its_own_token_only(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    token_post("cadre_v1", password_of("cadre_v1"))  # another of the user's tokens

    with CaptureQueriesContext(connection) as queries:
        response = _authorised(token).get("/api/v1/applications/")

    assert response.status_code == 200
    # knox's own class also reads every token of the user, to delete the expired ones.
    read = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(read) == 1 and '"knox_authtoken"."token_key" =' in read[0]


def test_another_expired_token_of_the_user_waits_for_the_timers(world: World) -> None:
    old = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]

    assert _authorised(token).get("/api/v1/applications/").status_code == 200
    assert AuthToken.objects.count() == 2
    assert tokens_expired_delete() == 1
    assert _authorised(old).get("/api/v1/applications/").status_code == 401
    assert _authorised(token).get("/api/v1/applications/").status_code == 200


def test_signing_out_of_the_pages_revokes_the_users_tokens(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    page = Client()
    page.force_login(world.user("cadre_v1"))

    page.post("/accounts/logout/")

    assert _authorised(token).get("/api/v1/applications/").status_code == 401


def test_a_new_password_revokes_the_users_tokens(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    user = world.user("cadre_v1")

    user.set_password("Another-Strong-Pass-2026")
    user.save()

    assert _authorised(token).get("/api/v1/applications/").status_code == 401
    assert _authorised(token).delete("/api/v1/auth/token/").status_code == 401


def test_a_sign_in_of_ones_own_does_not_clear_another_users_failures(world: World) -> None:
    """Guessing a colleague's password from one's own desk, signing in as oneself between
    the guesses, must still lock the colleague's name out."""
    answers = []
    for _ in range(2):
        for _guess in range(3):
            response: Any = token_post("cadre_v1", "wrong", address="10.7.7.7")
            answers.append(response.status_code)
        page_post("reviewer_t1", password_of("reviewer_t1"), address="10.7.7.7")

    assert 429 in answers


def test_a_sign_in_clears_that_users_own_failures(world: World) -> None:
    for _ in range(LIMIT - 1):
        token_post("cadre_v1", "wrong")
    assert token_post("cadre_v1", password_of("cadre_v1")).status_code == 200  # type: ignore[attr-defined]

    again = [token_post("cadre_v1", "wrong").status_code for _ in range(LIMIT - 1)]  # type: ignore[attr-defined]

    assert again == [400] * (LIMIT - 1)


def test_a_rehash_at_sign_in_keeps_the_tokens(world: World) -> None:
    token = token_post("cadre_v1", password_of("cadre_v1")).json()["token"]  # type: ignore[attr-defined]
    user = world.user("cadre_v1")

    user.save()  # no new password: a save of anything else (or a re-hash) keeps the tokens

    assert _authorised(token).get("/api/v1/applications/").status_code == 200


def test_behind_the_proxy_failures_are_counted_per_client_not_per_proxy(world: World) -> None:
    """nginx on 127.0.0.1 forwards every request: five failures from one villager's phone
    must not lock every other user of the site out (DEPLOY: deploy/nginx/fupin.conf)."""
    for name in ("a1", "a2", "a3", "a4", "a5"):
        APIClient().post(
            "/api/v1/auth/token/",
            {"username": name, "password": "wrong"},
            format="json",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="10.9.9.9",
        )

    elsewhere = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "approver_a", "password": password_of("approver_a")},
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.1.1.1",
    )
    same_client = token_post("approver_a", password_of("approver_a"), address="10.9.9.9")

    assert elsewhere.status_code == 200
    assert same_client.status_code == 429  # type: ignore[attr-defined]
