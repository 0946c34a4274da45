"""The application's state machine (``viewflow.fsm``), built from its chain's declaration
(``applications.chains``): which step leads where and which role may take it. The rules that
decide whether a step is allowed *now* (caps, objections, separation of duties) live in
``approvals.policy``; the services run both, lock the row and write the audit entry. Nothing
else changes ``status``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from viewflow import fsm

from applications.chains import Chain, Step, chain_of
from applications.models import Application
from applications.roles import Role
from applications.selectors import bank_officer_of, has_role_in
from common import clock
from common.actors import Actor


def _role(role: str) -> Callable[[Lifecycle, Any], bool]:
    def check(lifecycle: Lifecycle, user: Actor) -> bool:
        app = lifecycle.application
        if user is None or not has_role_in(user, role, app.area_code):
            return False
        # A bank officer acts for one bank: on the loans that bank was asked for only.
        return role != Role.BANK_OFFICER or bank_officer_of(user, app)

    check.__name__ = f"has_{role}"
    return check


def _system(lifecycle: Lifecycle, user: Actor) -> bool:
    """Only the system (a timer) takes a system move."""
    return user is None


class Lifecycle:
    """The state machine of one application on its chain. Subclassed once per chain by
    ``lifecycle_class``, which adds one transition per step."""

    chain: Chain
    state: Any

    def __init__(self, application: Application, actor: Actor = None) -> None:
        self.application = application
        self.actor = actor

    def method(self, name: str) -> Any:
        """The bound transition for a step's name, or None for a name the chain lacks."""
        if self.chain.step(name) is None:
            return None
        return getattr(self, _attribute(name))

    def allowed_by_role(self, name: str, user: Actor) -> bool:
        """The transition leaves the current state and the user's role may take it."""
        bound = self.method(name)
        return bool(bound is not None and bound.can_proceed() and bound.has_perm(user))

    def leaves_current_state(self, name: str) -> bool:
        bound = self.method(name)
        return bool(bound is not None and bound.can_proceed())


def _attribute(name: str) -> str:
    # ``return`` is a Python keyword: its method is ``return_``.
    return f"{name}_"


def _step_body(step: Step) -> Callable[[Lifecycle], None]:
    def body(self: Lifecycle) -> None:
        if step.records_actor:
            setattr(self.application, step.records_actor, self.actor)
        if step.effect is not None:
            step.effect(self.application, self.actor, clock.now())

    body.__name__ = _attribute(step.name)
    return body


@cache
def lifecycle_class(chain: Chain) -> type[Lifecycle]:
    """The ``viewflow.fsm`` machine of a chain: one transition per step, one source per
    move, each with its role (or the system) as the permission."""
    state = fsm.State(chain.statuses, default=chain.initial)

    def get_status(self: Lifecycle) -> str:
        return self.application.status

    def set_status(self: Lifecycle, value: str) -> None:
        self.application.status = value
        self.application.status_changed_at = clock.now()

    attrs: dict[str, Any] = {
        "chain": chain,
        "state": state,
        "_get_status": state.getter()(get_status),
        "_set_status": state.setter()(set_status),
    }
    for step in chain.steps:
        transition: Any = _step_body(step)
        for move in step.moves:
            transition = state.transition(
                source=move.source,
                target=move.target,
                permission=_role(move.role) if move.role is not None else _system,
            )(transition)
        attrs[_attribute(step.name)] = transition
    return type(f"{chain.key.title()}Lifecycle", (Lifecycle,), attrs)


def lifecycle_of(application: Application, actor: Actor = None) -> Lifecycle:
    """The state machine of the application's chain, bound to it and the actor."""
    return lifecycle_class(chain_of(application))(application, actor)
