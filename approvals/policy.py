"""Pure rules of the chain: numbers and predicates, no writes. Each refusal is a sentence the
user can act on, in their language."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from applications.models import Application, Household, ProgramItem, ProgramVersion

S = Application.Status
CENT = Decimal("0.01")
ELIGIBLE_HOUSEHOLD_STATUSES = (Household.Status.REGISTERED, Household.Status.RETURNED)


def items_amount(lines: Iterable[tuple[ProgramItem, int]]) -> Decimal:
    """The amount an application asks for: the sum of quantity × unit amount."""
    total = sum((item.unit_amount * qty for item, qty in lines), Decimal("0"))
    return total.quantize(CENT)


def subsidy_cap(version: ProgramVersion, already_received: Decimal) -> Decimal:
    """What the household may still receive from this program under these parameters."""
    return max(version.household_cap - already_received, Decimal("0")).quantize(CENT)


def household_eligible(household: Household) -> bool:
    return household.status in ELIGIBLE_HOUSEHOLD_STATUSES


def _same(user: Any, user_id: int | None) -> bool:
    return user is not None and user_id is not None and user.pk == user_id


def is_filer(user: Any, application: Application) -> bool:
    return _same(user, application.created_by_id) or _same(user, application.submitted_by_id)


def transition_refusal(
    name: str,
    application: Application,
    user: Any,
    *,
    open_objections: int,
    reason: str = "",
    now: datetime,
    via_objection: bool = False,
    signed_agreement: bool = False,
) -> str | None:
    """Why the step may not be taken now, or None when the rules allow it. The state
    machine has already checked the step leaves the current state and the role.
    ``signed_agreement``: the household's signed agreement is on the record (payment
    waits for it)."""
    if name in ("return", "reject") and not reason.strip():
        return _("A reason is required to return or reject an application.")
    if name == "submit":
        if not household_eligible(application.household):
            return _("Only registered or returned-to-poverty households may apply.")
        if application.appraisal_date is None or application.appraisal_attendees is None:
            return _("Record the village democratic appraisal before submitting.")
        if application.amount <= 0:
            return _("The application has no items.")
    if name == "close_posting":
        if application.posting_ends_at is None or now < application.posting_ends_at:
            return _("The posting period has not ended yet.")
        if open_objections:
            return _("An objection raised during posting is not resolved yet.")
    if name == "reject" and application.status == S.POSTED and not via_objection:
        return _("During posting an application is rejected only by upholding an objection.")
    if name in ("township_approve", "county_approve"):
        if open_objections:
            return _("An objection raised during posting is not resolved yet.")
        if is_filer(user, application):
            return _("Whoever filed or submitted an application may not approve it.")
    if name == "county_approve" and _same(user, application.township_approved_by_id):
        return _("The township and county approvals must be made by different people.")
    if name in ("township_approve", "county_approve", "return", "reject") and not via_objection:
        if application.status in (S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW) and is_filer(
            user, application
        ):
            return _("Whoever filed or submitted an application may not decide on it.")
    if name == "disburse":
        if (
            is_filer(user, application)
            or _same(user, application.township_approved_by_id)
            or (_same(user, application.county_approved_by_id))
        ):
            return _("Whoever filed or approved an application may not pay it.")
        if not signed_agreement:
            return _("The signed agreement has not been uploaded.")
    return None


def budget_refusal(budget: Decimal, committed: Decimal, amount: Decimal) -> str | None:
    if committed + amount > budget:
        return _("The program's budget is exhausted: %(left)s yuan left, %(amount)s asked.") % {
            "left": budget - committed,
            "amount": amount,
        }
    return None
