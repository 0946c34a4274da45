"""Reads, scoped. Every list, count, filter, detail, transition, export and download goes
through ``*_visible_to(user)``: what a user may see is a code-prefix filter built from their
grants, and an object outside it does not exist for them (404)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from applications.models import Application, Area, Household, Program
from applications.permissions import Grant, grants_of
from applications.roles import REVEAL_PERMISSION

M = TypeVar("M", bound=Model)


def scope_prefixes(user: Any, roles: Iterable[str] | None = None) -> list[str]:
    """The code prefixes the user may read, optionally only those of some roles. Nested
    prefixes are collapsed (a township covers its villages)."""
    wanted = set(roles) if roles is not None else None
    prefixes = sorted(
        {
            g.prefix
            for g in grants_of(user)
            if g.role != REVEAL_PERMISSION and (wanted is None or g.role in wanted)
        }
    )
    collapsed: list[str] = []
    for p in prefixes:
        if not any(p.startswith(c) for c in collapsed):
            collapsed.append(p)
    return collapsed


def is_everywhere(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False) and user.is_active)


def _scoped(
    qs: QuerySet[M], user: Any, field: str, roles: Iterable[str] | None = None
) -> QuerySet[M]:
    if is_everywhere(user) and roles is None:
        return qs
    prefixes = scope_prefixes(user, roles)
    if not prefixes:
        return qs.none()
    cond = Q()
    for prefix in prefixes:
        cond |= Q(**{f"{field}__startswith": prefix})
    return qs.filter(cond)


def areas_visible_to(user: Any) -> QuerySet[Area]:
    return _scoped(Area.objects.all(), user, "code")


def households_visible_to(user: Any) -> QuerySet[Household]:
    return _scoped(Household.objects.all(), user, "area_code")


def applications_visible_to(
    user: Any, *, roles: Iterable[str] | None = None
) -> QuerySet[Application]:
    return _scoped(Application.objects.all(), user, "area_code", roles)


def programs_visible_to(user: Any) -> QuerySet[Program]:
    """Programs belong to a county; anyone holding a role inside the county sees them."""
    if is_everywhere(user):
        return Program.objects.all()
    counties = {p[:6] for p in scope_prefixes(user)}
    if not counties:
        return Program.objects.none()
    return Program.objects.filter(area__code__in=[c + "000000" for c in counties])


def has_role_in(user: Any, role: str, area_code: str) -> bool:
    """True when the user holds ``role`` on an area that contains ``area_code``."""
    return any(g.role == role and area_code.startswith(g.prefix) for g in grants_of(user))


def roles_in(user: Any, area_code: str) -> set[str]:
    return {g.role for g in grants_of(user) if area_code.startswith(g.prefix)}


def can_reveal_id(user: Any, area_code: str) -> bool:
    return has_role_in(user, REVEAL_PERMISSION, area_code)


def grants_for(user: Any) -> tuple[Grant, ...]:
    return grants_of(user)


def application_get(user: Any, pk: int) -> Application:
    """The application if the user may see it; ``Application.DoesNotExist`` otherwise."""
    return (
        applications_visible_to(user)
        .select_related("household", "program", "program_version")
        .get(pk=pk)
    )
