"""``manage.py grant_role USERNAME ROLE AREA_CODE [--password P]``."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import translation
from guardian.models import UserObjectPermission

from applications.roles import Role
from applications.selectors import has_role_in
from audit.models import AuditEntry
from tests.factories import COUNTY, TOWNSHIP_1, VILLAGE_1, World

pytestmark = pytest.mark.django_db


def grant(*args: str) -> str:
    out = io.StringIO()
    call_command("grant_role", *args, stdout=out)
    return out.getvalue()


def test_grant_role_creates_user(world: World) -> None:
    grant("ma_cadre", "village_cadre", VILLAGE_1, "--password", "s3cret-pass")

    user = get_user_model().objects.get(username="ma_cadre")
    assert user.check_password("s3cret-pass")


def test_grant_role_grants_role_on_area(world: World) -> None:
    output = grant("ma_reviewer", "township_reviewer", TOWNSHIP_1)

    user = get_user_model().objects.get(username="ma_reviewer")
    assert has_role_in(user, Role.TOWNSHIP_REVIEWER, VILLAGE_1)
    assert "granted" in output


def test_grant_role_grants_existing_user(world: World) -> None:
    grant("cadre_v1", "township_reviewer", TOWNSHIP_1)

    user = get_user_model().objects.get(username="cadre_v1")
    assert has_role_in(user, Role.TOWNSHIP_REVIEWER, VILLAGE_1)
    assert has_role_in(user, Role.VILLAGE_CADRE, VILLAGE_1)


def test_grant_role_twice_is_idempotent(world: World) -> None:
    grant("ma_cadre", "village_cadre", VILLAGE_1)
    permissions = UserObjectPermission.objects.count()
    entries = AuditEntry.objects.count()

    output = grant("ma_cadre", "village_cadre", VILLAGE_1)

    assert "already held" in output
    assert UserObjectPermission.objects.count() == permissions
    assert AuditEntry.objects.count() == entries
    assert get_user_model().objects.filter(username="ma_cadre").count() == 1


def test_grant_role_without_password_keeps_existing_one(world: World) -> None:
    grant("ma_cadre", "village_cadre", VILLAGE_1, "--password", "s3cret-pass")

    grant("ma_cadre", "township_reviewer", TOWNSHIP_1)

    assert get_user_model().objects.get(username="ma_cadre").check_password("s3cret-pass")


def test_grant_role_wrong_level_refused_with_clear_error(world: World) -> None:
    with translation.override("en"), pytest.raises(CommandError) as error:
        grant("ma_cadre", "village_cadre", COUNTY)

    assert str(error.value) == "This role is granted on a village."


def test_grant_role_wrong_level_creates_nothing(world: World) -> None:
    with pytest.raises(CommandError):
        grant("ma_approver", "county_approver", VILLAGE_1)

    assert not get_user_model().objects.filter(username="ma_approver").exists()


def test_grant_role_unknown_area_refused(world: World) -> None:
    with translation.override("en"), pytest.raises(CommandError, match="620999000000"):
        grant("ma_cadre", "county_approver", "620999000000")


def test_grant_role_unknown_role_refused(world: World) -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        grant("ma_cadre", "mayor", COUNTY)

    assert not get_user_model().objects.filter(username="ma_cadre").exists()


@pytest.mark.parametrize("weak", ["1", "password", "ma_weak", "12345678901"])
def test_grant_role_refuses_a_weak_password_with_the_validators_messages(
    world: World, weak: str
) -> None:
    with translation.override("zh-hans"), pytest.raises(CommandError) as refused:
        grant("ma_weak", "village_cadre", VILLAGE_1, "--password", weak)

    assert "密码" in str(refused.value)
    assert not get_user_model().objects.filter(username="ma_weak").exists()
    assert not AuditEntry.objects.filter(action="user.create", object_id="ma_weak").exists()


def test_grant_role_refuses_a_weak_new_password_for_an_existing_user(world: World) -> None:
    user = get_user_model().objects.get(username="cadre_v1")
    before = user.password

    with pytest.raises(CommandError):
        grant("cadre_v1", "township_reviewer", TOWNSHIP_1, "--password", "cadre_v1")

    user.refresh_from_db()
    assert user.password == before
    assert not has_role_in(user, Role.TOWNSHIP_REVIEWER, VILLAGE_1)
