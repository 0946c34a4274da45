"""``approvals.hooks``: the listeners of the lifecycle run inside the transaction of the
change, after it is saved; a listener that fails rolls the change back; a listener is
registered once however often it is registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from applications.models import Application
from approvals import hooks
from approvals.models import Decision
from approvals.services.filing import application_create
from approvals.services.transitions import application_transition
from audit.models import AuditEntry
from tests.factories import VILLAGE_1, World

S = Application.Status


class ListenerFailed(Exception):
    pass


@pytest.fixture
def listeners(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module's listener lists as they are (the process layer's included), restored
    after the test whatever it registered."""
    monkeypatch.setattr(hooks, "_created", list(hooks._created))
    monkeypatch.setattr(hooks, "_transitioned", list(hooks._transitioned))
    yield


@pytest.mark.django_db
@pytest.mark.usefixtures("listeners")
def test_transition_listener_sees_the_saved_change(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    reviewer = world.user("reviewer_t1")
    seen: list[tuple[int, str, str, str, Any]] = []

    def listener(application: Application, name: str, from_state: str, actor: Any) -> None:
        stored = Application.objects.get(pk=application.pk).status  # inside the transaction
        seen.append((application.pk, name, from_state, stored, actor))

    hooks.on_transition(listener)
    application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    assert seen == [(app.pk, "township_approve", S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW, reviewer)]


@pytest.mark.django_db
@pytest.mark.usefixtures("listeners")
def test_failing_transition_listener_rolls_the_step_back(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    decisions = Decision.objects.filter(application=app).count()

    def listener(application: Application, name: str, from_state: str, actor: Any) -> None:
        raise ListenerFailed(name)

    hooks.on_transition(listener)
    with pytest.raises(ListenerFailed):
        application_transition(
            actor=world.user("reviewer_t1"), application_id=app.pk, name="township_approve"
        )

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert app.township_approved_by_id is None
    assert Decision.objects.filter(application=app).count() == decisions
    assert not AuditEntry.objects.filter(
        object_id=str(app.pk), action="application.township_approve"
    ).exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("listeners")
def test_failing_created_listener_rolls_the_filing_back(world: World) -> None:
    household = world.household(VILLAGE_1)
    calls: list[int] = []

    def listener(application: Application, actor: Any) -> None:
        calls.append(application.pk)
        raise ListenerFailed("created")

    hooks.on_created(listener)
    with pytest.raises(ListenerFailed):
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    assert len(calls) == 1  # it ran, after the application was saved
    assert not Application.objects.filter(household=household).exists()
    assert not AuditEntry.objects.filter(
        action="application.create", object_id=str(calls[0])
    ).exists()


@pytest.mark.usefixtures("listeners")
def test_registration_is_idempotent() -> None:
    created_before, transitioned_before = list(hooks._created), list(hooks._transitioned)

    def created(application: Application, actor: Any) -> None:
        pass

    def transitioned(application: Application, name: str, from_state: str, actor: Any) -> None:
        pass

    assert hooks.on_created(created) is created
    assert hooks.on_created(created) is created
    assert hooks.on_transition(transitioned) is transitioned
    assert hooks.on_transition(transitioned) is transitioned

    assert hooks._created == [*created_before, created]
    assert hooks._transitioned == [*transitioned_before, transitioned]


def test_listener_lists_are_restored_after_a_test() -> None:
    # The tests above registered listeners that raise; none of them is left behind.
    names = {f.__qualname__ for f in (*hooks._created, *hooks._transitioned)}
    assert not any(name.startswith("test_") for name in names)
