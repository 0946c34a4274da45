"""Acceptance before payment (先建后补): the township's visit, the county's sample drawn from a
recorded seed (and drawn again from it), the re-check, and what a round may pay."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from applications.models import Application, ProgramVersion
from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, Refused
from payments.models import AcceptanceSample, RoundExclusion
from payments.services.acceptance import (
    acceptance_recheck,
    acceptance_record,
    acceptance_rectification_allow,
    acceptance_sample_draw,
    sample_redraw,
)
from payments.services.rounds import payment_round_create
from tests.factories import COUNTY, World
from tests.payments.test_services import payable

S = Application.Status
pytestmark = pytest.mark.django_db


def _require_acceptance(world: World, percent: int = 20) -> None:
    ProgramVersion.objects.filter(program=world.program).update(
        acceptance_required=True, acceptance_sample_percent=percent
    )


def _accept(world: World, app: Application, result: str = "passed", notes: str = "") -> None:
    acceptance_record(
        actor=world.user("reviewer_t1"), application_id=app.pk, result=result, notes=notes
    )


def _round_codes(world: World) -> dict[int, str]:
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    excluded = RoundExclusion.objects.filter(round=round_).values_list("application_id", "code")
    return {**{line.application_id: "paid" for line in round_.lines.all()}, **dict(excluded)}


def test_only_accepted_applications_are_payable(world: World) -> None:
    _require_acceptance(world, percent=0)
    accepted, missing, failed = payable(world, 3)
    _accept(world, accepted)
    _accept(world, failed, "failed", "圈舍未建成")

    codes = _round_codes(world)

    assert codes == {
        accepted.pk: "paid",
        missing.pk: Code.ACCEPTANCE_MISSING,
        failed.pk: Code.ACCEPTANCE_FAILED,
    }


def test_the_cadre_who_filed_may_not_accept_the_work(world: World) -> None:
    _require_acceptance(world)
    [app] = payable(world, 1)
    Application.objects.filter(pk=app.pk).update(created_by=world.user("reviewer_t1"))

    with pytest.raises(Refused) as refused:
        _accept(world, app)

    assert refused.value.code == Code.SEPARATION_OF_DUTIES


def test_a_failed_visit_needs_notes_and_the_countys_leave_for_another(world: World) -> None:
    _require_acceptance(world)
    [app] = payable(world, 1)
    with pytest.raises(InvalidInput) as no_notes:
        _accept(world, app, "failed")
    assert "notes" in no_notes.value.as_dict()
    _accept(world, app, "failed", "羊只数量不符")

    with pytest.raises(Refused) as early:
        _accept(world, app)
    assert early.value.code == Code.WRONG_STATE

    with pytest.raises(Forbidden):
        acceptance_rectification_allow(
            actor=world.user("reviewer_t1"), application_id=app.pk, reason="已整改"
        )
    acceptance_rectification_allow(
        actor=world.user("approver_a"), application_id=app.pk, reason="已整改"
    )
    _accept(world, app)

    assert list(app.acceptances.values_list("visit", "result")) == [(1, "failed"), (2, "passed")]


def test_a_program_without_acceptance_refuses_a_visit(world: World) -> None:
    [app] = payable(world, 1)

    with pytest.raises(Refused) as refused:
        _accept(world, app)

    assert refused.value.code == Code.WRONG_STATE


def test_the_sample_is_the_percent_rounded_up_and_can_be_drawn_again(world: World) -> None:
    _require_acceptance(world, percent=20)
    apps = payable(world, 6)
    for app in apps:
        _accept(world, app)

    sample = acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )

    chosen = sorted(sample.items.values_list("application_id", flat=True))
    assert len(chosen) == 2  # ceil(20% of 6)
    assert sample.population == sorted(a.pk for a in apps)
    # An inspector draws it again from the recorded seed and population.
    entry = AuditEntry.objects.get(action="acceptance.sample_draw")
    seed = entry.changes["seed"][1]
    population = [int(p) for p in entry.changes["population"][1]]
    assert sample_redraw(seed=seed, population=population, percent=20) == chosen
    # Sampled and not re-checked: not payable; the others are.
    codes = _round_codes(world)
    assert {codes[pk] for pk in chosen} == {Code.ACCEPTANCE_RECHECK_MISSING}
    assert [pk for pk, code in codes.items() if code == "paid"] == [
        a.pk for a in apps if a.pk not in chosen
    ]


def test_a_passed_recheck_makes_the_sampled_application_payable(world: World) -> None:
    _require_acceptance(world, percent=100)
    [app] = payable(world, 1)
    _accept(world, app)
    acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )
    acceptance_recheck(
        actor=world.user("approver_a"), application_id=app.pk, result="passed", notes=""
    )

    with pytest.raises(Refused) as twice:
        acceptance_recheck(
            actor=world.user("approver_a"), application_id=app.pk, result="passed", notes=""
        )

    assert twice.value.code == Code.WRONG_STATE
    assert _round_codes(world) == {app.pk: "paid"}


def test_nothing_to_sample_is_refused(world: World) -> None:
    _require_acceptance(world)

    with pytest.raises(Refused) as refused:
        acceptance_sample_draw(
            actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
        )

    assert refused.value.code == Code.NOTHING_PAYABLE
    assert not AcceptanceSample.objects.exists()


def test_acceptance_and_sample_through_the_api(world: World, api: Callable[..., APIClient]) -> None:
    _require_acceptance(world, percent=50)
    apps = payable(world, 2)

    visit = api("reviewer_t1").post(
        f"/api/v1/applications/{apps[0].pk}/acceptance/", {"result": "passed"}, format="json"
    )
    api("reviewer_t1").post(
        f"/api/v1/applications/{apps[1].pk}/acceptance/", {"result": "passed"}, format="json"
    )
    sample = api("approver_a").post(
        "/api/v1/acceptance-samples/", {"program": world.program.pk, "area": COUNTY}, format="json"
    )
    outsider = api("reviewer_t2").post(
        f"/api/v1/applications/{apps[0].pk}/acceptance/", {"result": "passed"}, format="json"
    )

    assert visit.status_code == 201 and visit.json()["visit"] == 1
    assert sample.status_code == 201 and len(sample.json()["chosen"]) == 1
    assert (outsider.status_code, outsider.json()["code"]) == (404, "not_found")
