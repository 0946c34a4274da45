"""The subsidy chain as a viewflow process (``workflows.flows``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from applications.models import Area
from approvals.services.transitions import application_transition
from tests.factories import COUNTY, STEP_ROLE, VILLAGE_1, S, World
from workflows.flows import SubsidyApplicationFlow
from workflows.selectors import active_task


def test_process_title_in_the_users_language() -> None:
    with translation.override("zh-hans"):
        assert str(SubsidyApplicationFlow.process_title) == "到户产业扶持申请"
    with translation.override("en"):
        assert str(SubsidyApplicationFlow.process_title) == "Household industry subsidy application"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "name", "area"),
    [
        (S.DRAFT, "submit", VILLAGE_1),
        (S.TOWNSHIP_REVIEW, "township_approve", COUNTY),
    ],
)
def test_a_step_names_the_next_tasks_area_without_reading_it(
    world: World, status: str, name: str, area: str
) -> None:
    app = world.application(status)

    with CaptureQueriesContext(connection) as queries:
        application_transition(
            actor=world.actor(STEP_ROLE[name], app.area_code), application_id=app.pk, name=name
        )

    task = active_task(app)
    assert task is not None and task.owner_permission_obj_pk == area
    assert task.owner_permission_obj == Area.objects.get(code=area)
    assert not [q for q in queries.captured_queries if '"applications_area"' in q["sql"]]
