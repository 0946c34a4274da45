"""Recording a newly published reference rate (an admin or a county approver); audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from applications.permissions import grants_of
from applications.roles import Role
from applications.selectors import is_everywhere
from audit.services import audit_record
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, Refused
from loans.models import ReferenceRate


def may_write_rates(actor: Actor) -> bool:
    return is_everywhere(actor) or any(g.role == Role.COUNTY_APPROVER for g in grants_of(actor))


def reference_rate_add(
    *, actor: Actor, kind: str, effective_from: date, rate: Decimal, source: str
) -> ReferenceRate:
    """A published rate from the day it takes effect. Guarantees: only an admin or a county
    approver writes one (``Forbidden``); a rate between 0 and 36 percent with its source
    (``InvalidInput``); one rate of a kind per day, never overwritten (``Refused``,
    ``rate_exists``); the write is on the record."""
    writer = person(actor)
    if not may_write_rates(actor):
        raise Forbidden(_("Only an administrator or a county approver records reference rates."))
    row = ReferenceRate(
        kind=kind,
        effective_from=effective_from,
        rate=rate,
        source=(source or "").strip(),
        created_by=writer,
    )
    try:
        row.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(exc) from None
    try:
        with transaction.atomic():
            row.save()
            audit_record(
                actor=actor,
                action="reference_rate.add",
                object_type="reference_rate",
                object_id=row.pk,
                changes={
                    "kind": [None, kind],
                    "effective_from": [None, effective_from],
                    "rate": [None, rate],
                    "source": [None, row.source],
                },
            )
    except IntegrityError:
        raise Refused(
            _("A %(kind)s rate taking effect on %(day)s is already recorded.")
            % {"kind": row.get_kind_display(), "day": effective_from.isoformat()},
            code=Code.RATE_EXISTS,
        ) from None
    return row
