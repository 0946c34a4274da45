"""The one place that talks to django-guardian.

Roles are object permissions on ``Area`` rows, granted to users (never globally, never to
a group): a million applications mean no extra permission rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from applications.models import Area
from applications.roles import PERMISSION_ROLE, REVEAL_PERMISSION, ROLE_PERMISSION, prefix_of_code
from common.actors import Actor


@dataclass(frozen=True)
class Grant:
    role: str  # a Role value, or REVEAL_PERMISSION
    area_code: str
    prefix: str


_CACHE_ATTR = "_fupin_grants"


def grants_of(user: Actor) -> tuple[Grant, ...]:
    """Every role the user holds, with the area and its code prefix. One query per user
    object (cached on it for the request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ()
    cached: tuple[Grant, ...] | None = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    pk = user.pk
    if pk is None:
        return ()
    result = grants_of_users([pk]).get(pk, ())
    setattr(user, _CACHE_ATTR, result)
    return result


def grants_of_users(user_ids: Iterable[int]) -> dict[int, tuple[Grant, ...]]:
    """The roles of several users at once (one query), by user id; users without any role
    are left out."""
    rows = UserObjectPermission.objects.filter(
        user_id__in=list(user_ids), content_type=ContentType.objects.get_for_model(Area)
    ).values_list("user_id", "permission__codename", "object_pk")
    found: dict[int, list[Grant]] = {}
    for user_id, codename, code in rows:
        role = PERMISSION_ROLE.get(codename)
        if role is None and codename == REVEAL_PERMISSION:
            role = REVEAL_PERMISSION
        if role is not None:
            found.setdefault(user_id, []).append(
                Grant(role=str(role), area_code=code, prefix=prefix_of_code(code))
            )
    return {
        user_id: tuple(sorted(grants, key=lambda g: (g.role, g.area_code)))
        for user_id, grants in found.items()
    }


def users_granted_in(prefixes: Iterable[str]) -> QuerySet[Any]:
    """The ids of the users holding any role on an area inside one of these code prefixes
    (a subquery: ``user_id__in=users_granted_in(...)``)."""
    cond = Q()
    for prefix in prefixes:
        cond |= Q(object_pk__startswith=prefix)
    if not cond:
        return UserObjectPermission.objects.none().values("user_id")
    return (
        UserObjectPermission.objects.filter(
            content_type=ContentType.objects.get_for_model(Area),
            permission__codename__in=list(PERMISSION_ROLE),
        )
        .filter(cond)
        .values("user_id")
    )


def forget_grants(user: Actor) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def permission_grant(user: Actor, codename: str, area: Area) -> bool:
    """Grant; returns False when the user already held it."""
    forget_grants(user)
    if any(
        g.area_code == area.code and codename in (g.role, _perm_of(g.role)) for g in grants_of(user)
    ):
        return False
    assign_perm(f"applications.{codename}", user, area)
    forget_grants(user)
    return True


def _perm_of(role: str) -> str:
    return ROLE_PERMISSION.get(role, role)


def permission_revoke(user: Actor, codename: str, area: Area) -> None:
    remove_perm(f"applications.{codename}", user, area)
    forget_grants(user)


def holders_of(codename: str, area_code: str) -> list[Any]:
    """The active users granted ``codename`` on exactly this area."""
    from django.contrib.auth import get_user_model

    user_ids = UserObjectPermission.objects.filter(
        content_type=ContentType.objects.get_for_model(Area),
        permission__codename=codename,
        object_pk=area_code,
    ).values("user_id")
    return list(
        get_user_model().objects.filter(pk__in=user_ids, is_active=True).order_by("username")
    )
