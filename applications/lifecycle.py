"""The application's state machine (``viewflow.fsm``): which step leads where and which role
may take it. The rules that decide whether a step is allowed *now* (caps, objections,
separation of duties) live in ``approvals.policy``; the services in ``approvals.services``
run both, lock the row and write the audit entry. Nothing else changes ``status``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from viewflow import fsm

from applications.models import Application
from applications.roles import Role
from applications.selectors import has_role_in
from common import clock

S = Application.Status

# The transitions by their public names (``return`` is a Python keyword).
TRANSITION_NAMES = (
    "submit",
    "start_posting",
    "close_posting",
    "township_approve",
    "county_approve",
    "return",
    "reject",
    "withdraw",
    "disburse",
)
REASON_REQUIRED = frozenset({"return", "reject"})


def _role(role: str) -> Callable[[ApplicationLifecycle, Any], bool]:
    def check(lifecycle: ApplicationLifecycle, user: Any) -> bool:
        return user is not None and has_role_in(user, role, lifecycle.application.area_code)

    check.__name__ = f"has_{role}"
    return check


def _system(lifecycle: ApplicationLifecycle, user: Any) -> bool:
    """Only the system (the posting timer) closes a posting."""
    return user is None


class ApplicationLifecycle:
    state = fsm.State(S, default=S.DRAFT)

    def __init__(self, application: Application, actor: Any = None) -> None:
        self.application = application
        self.actor = actor

    @state.getter()
    def _get_status(self) -> str:
        return self.application.status

    @state.setter()
    def _set_status(self, value: str) -> None:
        self.application.status = value
        self.application.status_changed_at = clock.now()

    @state.transition(
        source=[S.DRAFT, S.RETURNED], target=S.SUBMITTED, permission=_role(Role.VILLAGE_CADRE)
    )
    def submit(self) -> None:
        self.application.submitted_by = self.actor

    @state.transition(source=S.SUBMITTED, target=S.POSTED, permission=_role(Role.VILLAGE_CADRE))
    def start_posting(self) -> None:
        now = clock.now()
        days = self.application.program_version.posting_days
        self.application.posting_started_at = now
        self.application.posting_ends_at = now + timedelta(days=days)

    @state.transition(source=S.POSTED, target=S.TOWNSHIP_REVIEW, permission=_system)
    def close_posting(self) -> None:
        pass

    @state.transition(
        source=S.TOWNSHIP_REVIEW, target=S.COUNTY_REVIEW, permission=_role(Role.TOWNSHIP_REVIEWER)
    )
    def township_approve(self) -> None:
        self.application.township_approved_by = self.actor

    @state.transition(
        source=S.COUNTY_REVIEW, target=S.APPROVED, permission=_role(Role.COUNTY_APPROVER)
    )
    def county_approve(self) -> None:
        self.application.county_approved_by = self.actor

    @state.transition(
        source=S.TOWNSHIP_REVIEW, target=S.RETURNED, permission=_role(Role.TOWNSHIP_REVIEWER)
    )
    @state.transition(
        source=S.COUNTY_REVIEW, target=S.RETURNED, permission=_role(Role.COUNTY_APPROVER)
    )
    def return_(self) -> None:
        pass

    # From ``posted`` only through an upheld objection (``approvals.services``).
    @state.transition(source=S.POSTED, target=S.REJECTED, permission=_role(Role.TOWNSHIP_REVIEWER))
    @state.transition(
        source=S.TOWNSHIP_REVIEW, target=S.REJECTED, permission=_role(Role.TOWNSHIP_REVIEWER)
    )
    @state.transition(
        source=S.COUNTY_REVIEW, target=S.REJECTED, permission=_role(Role.COUNTY_APPROVER)
    )
    def reject(self) -> None:
        pass

    @state.transition(
        source=[S.DRAFT, S.SUBMITTED, S.POSTED, S.RETURNED],
        target=S.WITHDRAWN,
        permission=_role(Role.VILLAGE_CADRE),
    )
    def withdraw(self) -> None:
        pass

    @state.transition(source=S.APPROVED, target=S.DISBURSED, permission=_role(Role.FINANCE_OFFICER))
    def disburse(self) -> None:
        self.application.disbursed_by = self.actor

    def method(self, name: str) -> Any:
        """The bound transition for a public name, or None for an unknown name."""
        if name not in TRANSITION_NAMES:
            return None
        return getattr(self, "return_" if name == "return" else name)

    def allowed_by_role(self, name: str, user: Any) -> bool:
        """The transition leaves the current state and the user's role may take it."""
        bound = self.method(name)
        return bool(bound is not None and bound.can_proceed() and bound.has_perm(user))

    def leaves_current_state(self, name: str) -> bool:
        bound = self.method(name)
        return bool(bound is not None and bound.can_proceed())
