"""Bank card checks (DOMAIN rule 5): a county officer other than the payer checks a held
payment's card, releasing the hold."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from applications.models import (
    Application,
)
from applications.roles import Role
from applications.selectors import (
    has_role_in,
)
from approvals import policy
from approvals.models import CardCheck
from approvals.selectors import (
    card_facts,
)
from approvals.services.access import MAX_REASON, _household_and_area, _lock_for, _refuse_if_recused
from audit.services import audit_record, audit_refusal
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput

CARD_CHECK_ROLES = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)


def is_card_checker(user: Actor, area_code: str) -> bool:
    """Does the user record card checks there (a county approver or finance officer)?"""
    return any(has_role_in(user, role, area_code) for role in CARD_CHECK_ROLES)


def card_check_allowed(
    user: Actor,
    application: Application,
    *,
    card: policy.CardFacts,
    recused: bool,
    now: datetime,
) -> bool:
    """Would ``card_check_record`` take the user's check of the application now (a reason
    given)? ``card`` is its ``card_facts``, ``recused`` ``recused_from`` for the user: the
    page offers the check by the rules the service applies."""
    return (
        not recused
        and is_card_checker(user, application.area_code)
        and policy.card_check_refusal(application, card, now=now) is None
    )


def card_check_record(*, actor: Actor, application_id: int, reason: str) -> CardCheck:
    """A county officer records the check of the bank card a held payment would go to (a
    card shared with another household, or changed shortly before the payment), releasing
    the hold.

    Guarantees: a reason (what was checked, with whom); the application is in the actor's
    area (else ``NotFound``, recorded); the actor is a county approver or finance officer
    there and not recused from it (else ``Forbidden``, recorded); the application is
    approved and its payment held (else ``Refused``); the check is tied to the card on
    record (a later change of card holds the payment again) and to its checker, who may
    then not pay it (separation of duties); one transaction with its audit entry."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Say what was checked, and with whom.")]})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    household_id, area_code = _household_and_area(actor, application_id, "application.card_check")
    if not is_card_checker(actor, area_code):
        audit_refusal(
            actor=actor,
            action="application.card_check",
            object_type="application",
            object_id=application_id,
            area_code=area_code,
            reason="no county approver or finance officer role here",
        )
        raise Forbidden(
            _("Only a county approver or finance officer records a card check."), code=Code.ROLE
        )
    _refuse_if_recused(
        actor=actor,
        household_id=household_id,
        area_code=area_code,
        action="application.card_check",
        object_type="application",
        object_id=application_id,
    )
    with transaction.atomic():
        app = _lock_for(actor, application_id, "application.card_check")
        card, now = card_facts(app), clock.now()
        refusal = policy.card_check_refusal(app, card, now=now)
        if refusal is not None:
            raise refusal.refused()
        holds = policy.payment_holds(card, now=now)
        household = app.household
        check = CardCheck.objects.create(
            application=app,
            bank_card_hash=household.bank_card_hash,
            bank_card_masked=household.bank_card_masked,
            checked_by=person(actor),
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="application.card_check",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={
                "card_check": [None, str(check.pk)],
                "bank_card": [None, household.bank_card_masked],
                "holds": [None, holds],
            },
            reason=reason,
        )
    return check
