"""Template filters for the village cadre's links."""

from __future__ import annotations

from django import template

from applications.roles import Role
from applications.selectors import scope_prefixes
from common.actors import Actor

register = template.Library()


@register.filter
def is_village_cadre(user: Actor) -> bool:
    """The user holds the village cadre role on some village."""
    return bool(
        getattr(user, "is_authenticated", False) and scope_prefixes(user, [Role.VILLAGE_CADRE])
    )
