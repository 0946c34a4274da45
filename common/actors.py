"""Who acts: a signed-in official, the public (anonymous, at the notice board), or the system
(``None``: a timer or a command). Every service takes its actor as ``Actor``."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

# A person is a ``User``; the public an ``AnonymousUser``; the system ``None``.
Actor = User | AnonymousUser | None


def person(actor: Actor) -> User:
    """The signed-in official who acts. A write that must name a person refuses the public
    and the system (a scope check has normally refused them before)."""
    if isinstance(actor, User) and actor.is_authenticated:
        return actor
    from django.utils.translation import gettext as _

    from common.errors import Code, Forbidden

    raise Forbidden(_("Only a signed-in official may do this."), code=Code.ROLE)


def person_or_none(actor: Actor) -> User | None:
    """The official who acts, or None for the public and the system."""
    return actor if isinstance(actor, User) and actor.is_authenticated else None
