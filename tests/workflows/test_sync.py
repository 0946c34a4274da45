"""The process and the application status never diverge, whichever path an application
takes: after every step the open process node is the one ``Chain.node_of_status`` names."""

from __future__ import annotations

from typing import Any

import pytest
from viewflow.workflow.status import PROCESS

from applications.chains import SUBSIDY
from applications.models import Application
from applications.roles import Role
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import application_transition, postings_close_due
from common.errors import Code, Refused
from tests.factories import (
    STEP_ROLE,
    S,
    World,
    after_posting,
    direct_writes,
    process_shape,
    upload_signed_agreement,
)
from workflows import sync
from workflows.models import ApplicationProcess
from workflows.selectors import active_task, process_divergences

pytestmark = pytest.mark.django_db


def assert_in_step(app: Application) -> None:
    app.refresh_from_db()
    assert not process_divergences().exists()
    task = active_task(app)
    expected = SUBSIDY.node_of_status[app.status]
    if expected is None:
        assert task is None
    else:
        assert task is not None and task.flow_task.name == expected


def step(world: World, app: Application, name: str, **kwargs: Any) -> Application:
    role = STEP_ROLE[name]
    if name in ("return", "reject") and app.status == S.COUNTY_REVIEW:
        role = Role.COUNTY_APPROVER
    if name == "disburse":
        upload_signed_agreement(
            actor=world.actor(Role.VILLAGE_CADRE, app.area_code), application_id=app.pk
        )
        world.pay([app])
        assert_in_step(app)
        return app
    application_transition(
        actor=world.actor(role, app.area_code),
        application_id=app.pk,
        name=name,
        reason="核实后决定" if name in ("return", "reject") else "",
        **kwargs,
    )
    assert_in_step(app)
    return app


def to_posted(world: World) -> Application:
    app = world.application(S.DRAFT)
    assert_in_step(app)
    for name in ("submit", "start_posting"):
        step(world, app, name)
    return app


def close_posting(app: Application) -> None:
    app.refresh_from_db()
    assert postings_close_due(now=after_posting(app)) >= 1
    assert_in_step(app)
    assert app.status == S.TOWNSHIP_REVIEW


def test_sync_full_chain_to_disbursed(world: World) -> None:
    app = to_posted(world)
    close_posting(app)
    for name in ("township_approve", "county_approve", "disburse"):
        step(world, app, name)
    assert app.status == S.DISBURSED
    assert ApplicationProcess.objects.get(application=app).status == PROCESS.DONE


@pytest.mark.parametrize("at", [S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW])
def test_sync_returned_then_resubmitted_to_approval(world: World, at: str) -> None:
    app = to_posted(world)
    close_posting(app)
    if at == S.COUNTY_REVIEW:
        step(world, app, "township_approve")
    step(world, app, "return")
    assert app.status == S.RETURNED
    for name in ("submit", "start_posting"):
        step(world, app, name)
    close_posting(app)
    step(world, app, "township_approve")
    step(world, app, "county_approve")
    assert app.status == S.APPROVED


@pytest.mark.parametrize("at", [S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW])
def test_sync_rejected_in_review(world: World, at: str) -> None:
    app = to_posted(world)
    close_posting(app)
    if at == S.COUNTY_REVIEW:
        step(world, app, "township_approve")
    step(world, app, "reject")
    assert app.status == S.REJECTED
    assert ApplicationProcess.objects.get(application=app).status == PROCESS.DONE


def uphold_objection(world: World, app: Application) -> None:
    """A public objection to a posted application, upheld by the township: it is rejected."""
    objection = objection_raise(actor=None, application_id=app.pk, text="他家有拖拉机", public=True)
    assert_in_step(app)
    objection_resolve(
        actor=world.actor(Role.TOWNSHIP_REVIEWER, app.area_code),
        objection_id=objection.pk,
        upheld=True,
        reason="核实属实",
    )
    assert_in_step(app)


def test_sync_rejected_by_upheld_objection(world: World) -> None:
    app = to_posted(world)
    uphold_objection(world, app)
    assert app.status == S.REJECTED


def test_sync_dismissed_objection_then_posting_closed(world: World) -> None:
    app = to_posted(world)
    objection = objection_raise(actor=None, application_id=app.pk, text="有疑问", public=True)
    app.refresh_from_db()
    assert postings_close_due(now=after_posting(app)) == 0  # the open objection holds it
    assert_in_step(app)
    assert app.status == S.POSTED
    objection_resolve(
        actor=world.actor(Role.TOWNSHIP_REVIEWER, app.area_code),
        objection_id=objection.pk,
        upheld=False,
        reason="核实不属实",
    )
    close_posting(app)


@pytest.mark.parametrize("status", [S.DRAFT, S.SUBMITTED, S.POSTED, S.RETURNED])
def test_sync_withdrawn_from_each_allowed_state(world: World, status: str) -> None:
    app = world.application(status)
    assert_in_step(app)
    step(world, app, "withdraw")
    assert app.status == S.WITHDRAWN
    assert ApplicationProcess.objects.get(application=app).status == PROCESS.CANCELED


def test_sync_posting_closed_by_the_timer(world: World) -> None:
    apps = [to_posted(world) for _ in range(3)]
    latest = max(after_posting(a) for a in apps)
    assert postings_close_due(now=latest) == 3
    for app in apps:
        assert_in_step(app)
        assert app.status == S.TOWNSHIP_REVIEW


def test_sync_illegal_transition_changes_neither(world: World) -> None:
    app = world.application(S.SUBMITTED)
    task_before = active_task(app)
    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.actor(Role.TOWNSHIP_REVIEWER, app.area_code),
            application_id=app.pk,
            name="township_approve",
        )
    assert refused.value.code == Code.WRONG_STATE
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    task_after = active_task(app)
    assert task_after.pk == task_before.pk and task_after.status == task_before.status
    assert_in_step(app)


def test_divergences_finds_a_process_out_of_step(world: World) -> None:
    app = world.application(S.SUBMITTED)
    # Behind the services' back: the status moves, the process does not.
    Application.objects.filter(pk=app.pk).update(status=S.POSTED)
    assert list(process_divergences()) == [app]
    assert list(process_divergences(Application.objects.exclude(pk=app.pk))) == []


def test_the_bulk_path_leaves_the_same_process_as_one_by_one(world: World) -> None:
    """A return file's paid lines move their processes together (``processes_follow``):
    the tasks, their links and the finished process are what viewflow writes for one
    application at a time."""
    from django.db import transaction

    from approvals.services.transitions import (
        application_paid_by_bank,
        applications_paid_by_bank,
    )

    one, many, other = (world.application(S.APPROVED) for _ in range(3))
    for app in (one, many, other):
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    finance = world.user("finance_a")
    changes = {"payment_line": [None, "X"]}
    with transaction.atomic(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync, "DIRECT", False)  # viewflow's own activations
        application_paid_by_bank(actor=finance, application_id=one.pk, changes=changes)
    with transaction.atomic():
        applications_paid_by_bank(actor=finance, payments=[(many.pk, changes), (other.pk, changes)])

    for app in (many, other):
        app.refresh_from_db()
        assert app.status == S.DISBURSED
        assert process_shape(app) == process_shape(one)
    assert process_shape(one)[0] == PROCESS.DONE
    assert not process_divergences().exists()


# Each path: the steps, "close" for the posting timer, "claim" for another reviewer holding
# the task first (the step's taker then takes it over).
PATHS = {
    "approved": ["submit", "start_posting", "close", "claim", "township_approve", "county_approve"],
    "returned by the township and again": [
        "submit",
        "start_posting",
        "close",
        "return",
        "submit",
        "start_posting",
        "close",
        "township_approve",
    ],
    "returned by the county": [
        "submit",
        "start_posting",
        "close",
        "township_approve",
        "return",
        "submit",
    ],
    "rejected by the township": ["submit", "start_posting", "close", "reject"],
    "rejected by the county": ["submit", "start_posting", "close", "township_approve", "reject"],
    "withdrawn after submission": ["submit", "withdraw"],
    "rejected by an upheld objection": ["submit", "start_posting", "uphold"],
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_the_direct_path_writes_what_viewflow_writes(
    world: World, monkeypatch: pytest.MonkeyPatch, path: list[str]
) -> None:
    """``process_follow`` writes the tasks of a plain path itself (``_follow_directly``):
    the process it leaves is the one viewflow's activations leave, task by task."""
    from applications.roles import Role as R
    from tests.factories import colleague
    from workflows.services import task_claim

    other_reviewer = colleague("reviewer_t1b", R.TOWNSHIP_REVIEWER, "620902100000")

    written = direct_writes(monkeypatch)

    def walk(direct: bool) -> Application:
        monkeypatch.setattr(sync, "DIRECT", direct)
        app = world.application(S.DRAFT)
        for name in path:
            if name == "close":
                close_posting(app)
            elif name == "claim":
                task = active_task(app)
                task_claim(actor=other_reviewer, task_id=task.pk)
            elif name == "uphold":
                uphold_objection(world, app)
            else:
                step(world, app, name)
        return app

    through_viewflow = walk(False)
    assert written == []
    direct = walk(True)
    assert written and all(written)  # every step of the walk was written directly
    assert direct.status == through_viewflow.status
    assert process_shape(direct) == process_shape(through_viewflow)
