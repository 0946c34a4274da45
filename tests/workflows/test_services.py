"""``workflows.services``: claiming a task from the queue, releasing it, handing it to a
colleague; each refusal with its code, recorded, changing nothing."""

from __future__ import annotations

import pytest
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from applications.models import Application
from applications.roles import Role
from applications.services import role_grant
from approvals.services.transitions import application_transition
from common.errors import Code, Forbidden, NotFound, Refused
from tests.factories import (
    TOWNSHIP_1,
    VILLAGE_1,
    S,
    World,
    audit_entries,
    colleague,
    kin_app,
    password_of,
)
from workflows.selectors import active_task
from workflows.services import task_claim, task_reassign, task_release

pytestmark = pytest.mark.django_db


def test_claim_of_a_claimed_task_is_refused_and_recorded(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    colleague = world.user("reviewer_t1")
    role_grant(
        actor=None,
        username="reviewer_t1bis",
        role=Role.TOWNSHIP_REVIEWER,
        area_code="620902100000",
        password=password_of("reviewer_t1bis"),
    )
    task_id = active_task(app).pk
    task_claim(actor=colleague, task_id=task_id)
    other = type(colleague).objects.get(username="reviewer_t1bis")
    with pytest.raises(Refused) as refused:
        task_claim(actor=other, task_id=task_id)
    assert refused.value.code == Code.TASK_TAKEN
    assert len(audit_entries(app, "task.claim", "refused")) == 1
    with pytest.raises(Refused) as refused:
        task_release(actor=other, task_id=task_id)
    assert refused.value.code == Code.NOT_OWNER
    assert active_task(app).owner_id == colleague.pk


def test_claim_needs_the_role_on_the_tasks_area(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    task_id = active_task(app).pk
    with pytest.raises(NotFound) as outside:
        task_claim(actor=world.user("reviewer_t2"), task_id=task_id)
    assert outside.value.code == Code.NOT_FOUND
    with pytest.raises(Forbidden) as refused:
        task_claim(actor=world.user("cadre_v1"), task_id=task_id)
    assert refused.value.code == Code.ROLE
    with pytest.raises(Forbidden) as refused:
        task_claim(actor=world.user("approver_a"), task_id=task_id)
    assert refused.value.code == Code.ROLE
    assert active_task(app).owner_id is None
    # The attempt from outside the area is on the record too.
    assert len(audit_entries(app, "task.claim", "refused")) == 3


def test_reassign_to_a_colleague_of_the_same_role_and_area(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    role_grant(
        actor=None,
        username="reviewer_t1bis",
        role=Role.TOWNSHIP_REVIEWER,
        area_code="620902100000",
        password=password_of("reviewer_t1bis"),
    )
    reviewer = world.user("reviewer_t1")
    colleague = type(reviewer).objects.get(username="reviewer_t1bis")
    task_id = active_task(app).pk
    task_claim(actor=reviewer, task_id=task_id)
    with pytest.raises(Refused) as refused:
        task_reassign(actor=reviewer, task_id=task_id, to_user=world.user("reviewer_t2"))
    assert refused.value.code == Code.NOT_COLLEAGUE
    task_reassign(actor=reviewer, task_id=task_id, to_user=colleague)
    assert active_task(app).owner_id == colleague.pk
    [entry] = audit_entries(app, "task.reassign")
    assert entry.changes["owner"] == ["reviewer_t1", "reviewer_t1bis"]
    with pytest.raises(Forbidden) as forbidden:
        task_reassign(
            actor=world.user("cadre_v1"),
            task_id=active_task(world.application(S.DRAFT)).pk,
            to_user=world.user("cadre_v1"),
        )
    assert forbidden.value.code == Code.ROLE


def test_recused_reviewer_may_not_claim_while_a_colleague_may(world: World) -> None:
    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")
    task = active_task(app)
    other = colleague("reviewer_t1b", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)

    with pytest.raises(Forbidden) as refused:
        task_claim(actor=world.user("reviewer_t1"), task_id=task.pk)
    assert refused.value.code == Code.RECUSED
    task_claim(actor=other, task_id=task.pk)

    assert active_task(app).owner == other
    assert len(audit_entries(app, "task.claim", "refused")) == 1


# --- each refusal, with its code ------------------------------------------------------------


def _claimed(world: World, username: str = "reviewer_t1") -> tuple[int, Application]:
    """A township review task claimed by ``username``: its id and the application."""
    app = world.application(S.TOWNSHIP_REVIEW)
    task_id = active_task(app).pk
    task_claim(actor=world.user(username), task_id=task_id)
    return task_id, app


def test_release_of_a_started_task_is_refused(world: World) -> None:
    task_id, _app = _claimed(world)
    Task.objects.filter(pk=task_id).update(status=STATUS.STARTED)  # opened by its holder

    with pytest.raises(Refused) as refused:
        task_release(actor=world.user("reviewer_t1"), task_id=task_id)

    assert refused.value.code == Code.TASK_STARTED
    assert Task.objects.get(pk=task_id).owner == world.user("reviewer_t1")


def test_reassign_of_a_started_task_is_refused(world: World) -> None:
    task_id, _app = _claimed(world)
    other = colleague("reviewer_t1b", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)
    Task.objects.filter(pk=task_id).update(status=STATUS.STARTED)

    with pytest.raises(Refused) as refused:
        task_reassign(actor=world.user("reviewer_t1"), task_id=task_id, to_user=other)

    assert refused.value.code == Code.TASK_STARTED
    assert Task.objects.get(pk=task_id).owner == world.user("reviewer_t1")


def test_reassign_to_the_holder_is_refused(world: World) -> None:
    task_id, app = _claimed(world)

    with pytest.raises(Refused) as refused:
        task_reassign(
            actor=world.user("reviewer_t1"), task_id=task_id, to_user=world.user("reviewer_t1")
        )

    assert refused.value.code == Code.SAME_OWNER
    assert len(audit_entries(app, "task.reassign", "refused")) == 1
    assert audit_entries(app, "task.reassign") == []


def test_reassign_by_a_role_that_does_not_hand_over_is_refused(world: World) -> None:
    app = world.application(S.SUBMITTED)
    task_id = active_task(app).pk
    other = colleague("cadre_v1b", Role.VILLAGE_CADRE, VILLAGE_1)

    with pytest.raises(Forbidden) as forbidden:
        task_reassign(actor=world.user("cadre_v1"), task_id=task_id, to_user=other)

    assert forbidden.value.code == Code.ROLE
    assert active_task(app).owner_id is None


def test_claim_of_the_posting_timer_is_refused(world: World) -> None:
    app = world.application(S.POSTED)  # the process waits on the timer, nobody's task
    task_id = active_task(app).pk

    with pytest.raises(Refused) as refused:
        task_claim(actor=world.user("reviewer_t1"), task_id=task_id)

    assert refused.value.code == Code.NOT_HUMAN
    assert active_task(app).owner_id is None


def test_claim_of_a_finished_task_is_refused(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    task_id = active_task(app).pk
    application_transition(
        actor=world.user("reviewer_t1"), application_id=app.pk, name="township_approve"
    )
    assert Task.objects.get(pk=task_id).status == STATUS.DONE

    with pytest.raises(Refused) as refused:
        task_claim(actor=world.user("reviewer_t1"), task_id=task_id)

    assert refused.value.code == Code.TASK_FINISHED
    assert len(audit_entries(app, "task.claim", "refused")) == 1


def test_release_by_someone_else_changes_nothing(world: World) -> None:
    task_id, app = _claimed(world)
    other = colleague("reviewer_t1b", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)

    with pytest.raises(Refused) as refused:
        task_release(actor=other, task_id=task_id)

    assert refused.value.code == Code.NOT_OWNER
    assert Task.objects.get(pk=task_id).owner == world.user("reviewer_t1")
    assert len(audit_entries(app, "task.release", "refused")) == 1
