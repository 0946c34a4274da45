"""Listeners that layers above (the process layer) attach to the lifecycle.

They run inside the transaction of the change, after it is saved: if a listener fails the
change rolls back with it, so what listens can never drift from what happened."""

from __future__ import annotations

from collections.abc import Callable

from applications.models import Application
from common.actors import Actor

CreatedListener = Callable[[Application, Actor], None]
TransitionListener = Callable[[Application, str, str, Actor], None]

_created: list[CreatedListener] = []
_transitioned: list[TransitionListener] = []


def on_created(listener: CreatedListener) -> CreatedListener:
    if listener not in _created:
        _created.append(listener)
    return listener


def on_transition(listener: TransitionListener) -> TransitionListener:
    if listener not in _transitioned:
        _transitioned.append(listener)
    return listener


def notify_created(application: Application, actor: Actor) -> None:
    for listener in _created:
        listener(application, actor)


def notify_transition(application: Application, name: str, from_state: str, actor: Actor) -> None:
    for listener in _transitioned:
        listener(application, name, from_state, actor)
