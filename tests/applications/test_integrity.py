"""Replaying each application's history from the audit trail: what a legitimate path leaves
behind matches the database; a direct edit does not."""

from __future__ import annotations

import pytest
from django.db import connection

from applications.integrity import ApplicationReplay
from approvals.services.filing import application_edit
from approvals.services.transitions import application_transition
from audit.verify import ledger_verify, replays
from tests.factories import World
from workflows.selectors import active_task
from workflows.services import task_claim, task_release

pytestmark = pytest.mark.django_db


def _replay_problems() -> list[str]:
    return [str(p) for p in ledger_verify(replayers=[ApplicationReplay()]).problems]


def test_application_replay_registered_for_every_verification() -> None:
    assert sum(isinstance(r, ApplicationReplay) for r in replays()) == 1


def test_replay_matches_every_state_of_the_chain(world: World) -> None:
    for status in ("draft", "posted", "approved", "disbursed", "rejected", "withdrawn"):
        world.application(status)

    assert _replay_problems() == []


def test_replay_follows_amount_edited_after_return(world: World) -> None:
    app = world.application("returned")
    cadre = world.user("cadre_v1")
    application_edit(actor=cadre, application_id=app.pk, items=[{"item": "sheep", "quantity": 3}])
    application_transition(actor=cadre, application_id=app.pk, name="submit")

    assert _replay_problems() == []


def test_replay_ignores_task_states_recorded_on_the_application(world: World) -> None:
    app = world.application("township_review")
    reviewer = world.user("reviewer_t1")
    task = task_claim(actor=reviewer, task_id=active_task(app).pk)
    app_claimed = world.application("township_review")
    task_claim(actor=reviewer, task_id=active_task(app_claimed).pk)
    task_release(actor=reviewer, task_id=task.pk)

    assert _replay_problems() == []


def test_replay_flags_amount_changed_in_database(world: World) -> None:
    app = world.application("approved")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE applications_application SET amount = %s WHERE id = %s", ["5000.00", app.pk]
        )

    problems = _replay_problems()

    assert len(problems) == 1
    assert f"application {app.pk} has amount 5000.00 in the database" in problems[0]


def test_replay_flags_status_changed_in_database(world: World) -> None:
    app = world.application("county_review")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE applications_application SET status = %s WHERE id = %s", ["disbursed", app.pk]
        )

    problems = _replay_problems()

    assert len(problems) == 1
    assert "'disbursed' in the database but 'county_review' by its audit trail" in problems[0]


def test_replay_flags_program_committed_changed_in_database(world: World) -> None:
    app = world.application("approved")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE applications_program SET committed = committed + 1000 WHERE id = %s",
            [app.program_id],
        )

    problems = _replay_problems()

    assert len(problems) == 1
    assert f"program {app.program.code} has 5000.00 committed in the database" in problems[0]
    assert "add up to 4000.00 by their audit trails" in problems[0]


def test_replay_counts_disbursed_applications_as_committed(world: World) -> None:
    world.application("disbursed")
    world.application("approved")
    world.application("county_review")

    assert _replay_problems() == []
