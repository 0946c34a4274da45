"""Listeners that layers above (the process layer) attach to the lifecycle.

They run inside the transaction of the change, after it is saved: if a listener fails the
change rolls back with it, so what listens can never drift from what happened."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from applications.models import Application
from common.actors import Actor

CreatedListener = Callable[[Application, Actor], None]
TransitionListener = Callable[[Application, str, str, Actor], None]
# The same for many applications taking one step from one state at once.
BulkTransitionListener = Callable[[Sequence[Application], str, str, Actor], None]

_created: list[CreatedListener] = []
_transitioned: list[TransitionListener] = []
_bulk: dict[TransitionListener, BulkTransitionListener] = {}


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
