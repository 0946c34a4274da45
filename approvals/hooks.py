"""Listeners that layers above (the process layer) attach to the lifecycle.

They run inside the transaction of the change, after it is saved: if a listener fails the
change rolls back with it, so what listens can never drift from what happened."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from applications.models import Application, Household, ProgramVersion
from common.actors import Actor

CreatedListener = Callable[[Application, Actor], None]
TransitionListener = Callable[[Application, str, str, Actor], None]
# The same for many applications taking one step from one state at once.
BulkTransitionListener = Callable[[Sequence[Application], str, str, Actor], None]

_created: list[CreatedListener] = []
_transitioned: list[TransitionListener] = []
_bulk: dict[TransitionListener, BulkTransitionListener] = {}


# What a program kind's applications ask beyond items, checked by the layer that knows its
# rules (a loan's amount, term, purpose and bank: ``loans``): (household, the parameters in
# force, what was asked, the application's date) → the checked request, or ``InvalidInput``
# with every problem and its code.
RequestCheck = Callable[[Household, ProgramVersion, Mapping[str, Any], date], dict[str, Any]]
_request_checks: dict[str, RequestCheck] = {}


def on_request(kind: str, check: RequestCheck) -> RequestCheck:
    _request_checks[kind] = check
    return check


def request_check(kind: str) -> RequestCheck | None:
    return _request_checks.get(kind)


# A step that carries terms of its own (the bank's approval: the amount, rate and term it
# grants), taken by the layer that checks them: (actor, application id, the request's
# data) → the application after the step. By program kind and step name.
StepHandler = Callable[[Actor, int, Mapping[str, Any]], Application]
_step_handlers: dict[tuple[str, str], StepHandler] = {}


def on_step(kind: str, name: str, handler: StepHandler) -> StepHandler:
    _step_handlers[(kind, name)] = handler
    return handler


def step_handler(kind: str, name: str) -> StepHandler | None:
    return _step_handlers.get((kind, name))


def step_handled(name: str) -> bool:
    """Does any kind of program take the step ``name`` through a handler of its own?"""
    return any(step == name for _kind, step in _step_handlers)


def on_created(listener: CreatedListener) -> CreatedListener:
    if listener not in _created:
        _created.append(listener)
    return listener


def on_transition(
    listener: TransitionListener, *, bulk: BulkTransitionListener | None = None
) -> TransitionListener:
    """Listen to every step; ``bulk``, when given, hears many applications' same step at
    once (``notify_transitions``) instead of ``listener`` once per application."""
    if listener not in _transitioned:
        _transitioned.append(listener)
    if bulk is not None:
        _bulk[listener] = bulk
    return listener


def notify_created(application: Application, actor: Actor) -> None:
    for listener in _created:
        listener(application, actor)


def notify_transition(application: Application, name: str, from_state: str, actor: Actor) -> None:
    for listener in _transitioned:
        listener(application, name, from_state, actor)


def notify_transitions(
    applications: Sequence[Application], name: str, from_state: str, actor: Actor
) -> None:
    """Many applications took the step ``name`` from ``from_state`` together."""
    for listener in _transitioned:
        bulk = _bulk.get(listener)
        if bulk is not None:
            bulk(applications, name, from_state, actor)
        else:
            for application in applications:
                listener(application, name, from_state, actor)
