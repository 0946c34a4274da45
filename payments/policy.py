"""The rules of a payment round: who may act on it, and in which of its states. The services
check them before they act; the pages ask them which actions to offer."""

from __future__ import annotations

from applications.roles import Role
from applications.selectors import has_role_in
from common.actors import Actor
from payments.models import PaymentRound

RS = PaymentRound.Status
# Who approves or cancels a round drawn up by a finance officer (never its maker).
APPROVER_ROLES = (Role.FINANCE_OFFICER, Role.COUNTY_APPROVER)
APPROVABLE = (RS.DRAFT,)
CANCELLABLE = (RS.DRAFT, RS.APPROVED)
# A bank file is made from the frozen list; the first export marks the round sent.
EXPORTABLE = (RS.APPROVED, RS.SENT, RS.RECONCILED)
IMPORTABLE = (RS.SENT,)


def is_round_approver(user: Actor, area_code: str) -> bool:
    return any(has_role_in(user, role, area_code) for role in APPROVER_ROLES)


def is_round_finance(user: Actor, area_code: str) -> bool:
    return has_role_in(user, Role.FINANCE_OFFICER, area_code)


def round_actions(user: Actor, round_: PaymentRound) -> dict[str, bool]:
    """What the user may do with the round now (the services refuse the rest)."""
    approver = is_round_approver(user, round_.area_code)
    finance = is_round_finance(user, round_.area_code)
    return {
        "approve": approver and round_.status in APPROVABLE,
        "cancel": approver and round_.status in CANCELLABLE,
        "first_download": finance and round_.status == RS.APPROVED,
        "download": finance and round_.status in EXPORTABLE and round_.status != RS.APPROVED,
        "upload": finance and round_.status in IMPORTABLE,
    }
