"""What every write of the approvals layer starts from: the scoped, locked read of an
application, the refusals of access (outside the actor's area, recused) put on the record, and
the limits on what a person may write."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from applications.models import (
    Application,
)
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import (
    applications_visible_to,
)
from approvals import policy
from approvals.selectors import (
    recused_from,
)
from audit.services import audit_refusal
from common.actors import Actor
from common.errors import Forbidden, NotFound

# Roles that read and never write.
READ_ONLY_ROLES = frozenset({Role.INSPECTOR, REVEAL_PERMISSION})
# Reasons and objections are sentences, not documents.
MAX_REASON = 2000
MAX_OBJECTION = 2000


def _refuse_if_recused(
    *,
    actor: Actor,
    household_id: int,
    area_code: str,
    action: str,
    object_type: str,
    object_id: Any,
) -> None:
    """Conflict of interest (DOMAIN rule 4): an official recused from the household's
    applications may not handle them; the refusal is recorded."""
    if recused_from(actor, household_id=household_id):
        refusal = policy.recusal_refusal()
        audit_refusal(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            area_code=area_code,
            reason=refusal.message,
        )
        raise Forbidden(refusal.message, code=refusal.code)


def _lock_for(
    actor: Actor, application_id: int, action: str, *, system: bool = False
) -> Application:
    qs = Application.objects.all() if system else applications_visible_to(actor)
    app = next(
        iter(
            qs.select_for_update(no_key=True, of=("self",))
            .select_related("household", "program", "program_version")
            .filter(pk=application_id)
            .order_by()[:1]  # one row by its key: no ordering to build
        ),
        None,
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    return app


def access_refused(*, actor: Actor, application_id: int, action: str = "application.view") -> None:
    """Record an attempt to reach an application outside the actor's area (if it exists:
    probing ids that exist nowhere leaves nothing to attach the entry to)."""
    area = Application.objects.filter(pk=application_id).values_list("area_code", flat=True).first()
    if area is not None:
        audit_refusal(
            actor=actor,
            action=action,
            object_type="application",
            object_id=application_id,
            area_code=area,
            reason="out of scope",
        )


def _household_and_area(actor: Actor, application_id: int, action: str) -> tuple[int, str]:
    """The household and area code of an application in the actor's area; ``NotFound``
    (the attempt recorded as ``action``) otherwise."""
    found = (
        applications_visible_to(actor)
        .filter(pk=application_id)
        .values_list("household_id", "area_code")
        .first()
    )
    if found is None:
        access_refused(actor=actor, application_id=application_id, action=action)
        raise NotFound(_("No such application in your area."))
    return int(found[0]), str(found[1])
