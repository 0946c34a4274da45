"""Reads of the process layer (``workflows.selectors``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from applications.models import Application
from applications.roles import Role
from approvals.selectors import objections_visible_to
from approvals.services.objections import objection_raise
from tests.factories import (
    TOWNSHIP_1,
    VILLAGE_1,
    World,
    colleague,
    upload_signed_agreement,
)
from workflows.selectors import (
    active_task,
    attachments_of,
    holds_task_role,
    objections_of,
    task_colleagues,
    task_role,
)

pytestmark = pytest.mark.django_db

S = Application.Status


# --- tasks and who takes them ------------------------------------------------------------------


def test_task_role_and_holds_task_role_of_a_township_review(world: World) -> None:
    task = active_task(world.application(S.TOWNSHIP_REVIEW))

    assert task_role(task) == Role.TOWNSHIP_REVIEWER
    assert holds_task_role(world.user("reviewer_t1"), task)
    assert not holds_task_role(world.user("approver_a"), task)
    assert not holds_task_role(world.user("reviewer_b"), task)


def test_task_colleagues_are_the_other_holders_of_the_role_there(world: World) -> None:
    task = active_task(world.application(S.TOWNSHIP_REVIEW))
    other = colleague("reviewer_t1c", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)

    assert task_colleagues(world.user("reviewer_t1"), task) == [other]
    assert world.user("reviewer_t1") in task_colleagues(other, task)


def test_task_colleagues_none_for_a_cadres_task(world: World) -> None:
    task = active_task(world.application(S.DRAFT))
    colleague("cadre_v1c", Role.VILLAGE_CADRE, VILLAGE_1)

    assert task_role(task) == Role.VILLAGE_CADRE
    assert task_colleagues(world.user("cadre_v1"), task) == []


# --- what hangs off an application -------------------------------------------------------------


def test_attachments_of_in_order_for_whoever_sees_the_application(world: World) -> None:
    app = world.application(S.DRAFT)
    first = upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    second = upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)

    assert attachments_of(world.user("reviewer_t1"), app) == [first, second]
    assert attachments_of(world.user("reviewer_b"), app) == []
    assert attachments_of(AnonymousUser(), app) == []


def test_objections_of_in_order_for_whoever_sees_the_application(world: World) -> None:
    app = world.application(S.POSTED)
    first, second = (
        objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text=text)
        for text in ("户主已外出务工。", "羊只数量不实。")
    )

    assert objections_of(world.user("reviewer_t1"), app) == [first, second]
    assert objections_of(world.user("inspector_b"), app) == []
    assert list(objections_visible_to(world.user("cadre_v1"))) == [first, second]
