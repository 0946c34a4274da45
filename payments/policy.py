"""The rules of a payment round: who may act on it, and in which of its states. The services
check them before they act; the pages ask them which actions to offer."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from applications.roles import Role
from applications.selectors import has_role_in
from common.actors import Actor
from payments.models import Acceptance, PaymentRound, SampledAcceptance

RS = PaymentRound.Status
# Who approves or cancels a round drawn up by a finance officer (never its maker).
APPROVER_ROLES = (Role.FINANCE_OFFICER, Role.COUNTY_APPROVER)
APPROVABLE = (RS.DRAFT,)
CANCELLABLE = (RS.DRAFT, RS.APPROVED)
# A bank file is made from the frozen list; the first export marks the round sent, a
# later one (a file lost on its way) holds the lines still waiting for the bank.
EXPORTABLE = (RS.APPROVED, RS.SENT)
IMPORTABLE = (RS.SENT,)
# The payment list (发放清册) is printed from the frozen list of an approved round.
PRINTABLE = (RS.APPROVED, RS.SENT, RS.RECONCILED)


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
        "print_list": approver and round_.status in PRINTABLE,
    }


# --- acceptance before payment (先建后补) ------------------------------------------------------


class AcceptanceState(StrEnum):
    """Where an approved application of a program that pays after the work is built stands
    with its acceptance, and so who acts next."""

    VISIT_DUE = "visit_due"  # the township visits
    FAILED = "failed"  # the county decides: another visit after rectification, or reject
    REVISIT_DUE = "revisit_due"  # rectified: the township visits again
    RECHECK_DUE = "recheck_due"  # sampled: the county re-checks
    RECHECK_FAILED = "recheck_failed"  # the county's re-check failed: the county rejects
    ACCEPTED = "accepted"  # payable as far as acceptance goes


ACCEPTANCE_STATE_LABELS = {
    AcceptanceState.VISIT_DUE: _("awaiting the township's visit"),
    AcceptanceState.FAILED: _("failed: awaiting the county's decision"),
    AcceptanceState.REVISIT_DUE: _("rectification allowed: awaiting another visit"),
    AcceptanceState.RECHECK_DUE: _("sampled: awaiting the county's re-check"),
    AcceptanceState.RECHECK_FAILED: _("the county's re-check failed"),
    AcceptanceState.ACCEPTED: _("accepted"),
}
# Who acts in each state: the township visits, the county decides and re-checks.
VISIT_STATES = (AcceptanceState.VISIT_DUE, AcceptanceState.REVISIT_DUE)
REJECTABLE_STATES = (AcceptanceState.FAILED, AcceptanceState.RECHECK_FAILED)


def acceptance_state(last: Acceptance | None, sampled: SampledAcceptance | None) -> AcceptanceState:
    """The state of an application's acceptance from its last visit and its place in a
    county sample (if any)."""
    if last is None:
        return AcceptanceState.VISIT_DUE
    if last.result == Acceptance.Result.FAILED:
        if last.rectification_allowed_by_id is None:
            return AcceptanceState.FAILED
        return AcceptanceState.REVISIT_DUE
    if sampled is not None:
        if not sampled.result:
            return AcceptanceState.RECHECK_DUE
        if sampled.result == Acceptance.Result.FAILED:
            return AcceptanceState.RECHECK_FAILED
    return AcceptanceState.ACCEPTED
