"""Acceptance before payment (先建后补): the township's visit, the county's sample drawn from a
recorded seed (and drawn again from it), the re-check, and what a round may pay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from applications.models import Application, Program, ProgramVersion
from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, Refused
from payments.models import Acceptance, AcceptanceSample, RoundExclusion
from payments.services.acceptance import (
    acceptance_recheck,
    acceptance_record,
    acceptance_rectification_allow,
    acceptance_sample_draw,
    sample_redraw,
)
from payments.services.rounds import payment_round_create
from tests.factories import COUNTY, PNG, World
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


# --- the county's decision on a failed acceptance ---------------------------------------------


def test_the_county_rejects_after_a_failed_visit_and_the_budget_is_released(
    world: World,
) -> None:
    from approvals.models import Decision
    from audit.verify import ledger_verify, replays
    from payments.services.acceptance import acceptance_reject
    from workflows.selectors import process_divergences

    _require_acceptance(world)
    [app] = payable(world, 1)
    committed = Program.objects.get(pk=world.program.pk).committed
    _accept(world, app, "failed", "圈舍未建")

    acceptance_reject(actor=world.user("approver_a"), application_id=app.pk, reason="未按期建成")

    app.refresh_from_db()
    assert app.status == S.REJECTED
    assert Program.objects.get(pk=world.program.pk).committed == committed - app.amount
    decision = Decision.objects.get(application=app, transition="reject")
    assert (decision.from_status, decision.reason) == (S.APPROVED, "未按期建成")
    assert not process_divergences().exists()
    assert ledger_verify(replayers=replays()).ok


def test_the_county_may_not_reject_an_approved_application_whose_work_passed(
    world: World,
) -> None:
    from payments.services.acceptance import acceptance_reject

    _require_acceptance(world)
    [app] = payable(world, 1)
    _accept(world, app)

    with pytest.raises(Refused) as refused:
        acceptance_reject(actor=world.user("approver_a"), application_id=app.pk, reason="不予补助")

    assert refused.value.code == Code.ACCEPTANCE_ONLY
    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert AuditEntry.objects.filter(
        action="application.reject", object_id=str(app.pk), outcome=AuditEntry.Outcome.REFUSED
    ).exists()


def test_an_approved_application_is_not_rejected_by_the_plain_step(world: World) -> None:
    from approvals.services.transitions import application_transition

    [app] = payable(world, 1)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="reject", reason="不予"
        )

    assert refused.value.code == Code.ACCEPTANCE_ONLY


def test_only_the_county_approver_rejects_after_acceptance(world: World) -> None:
    from payments.services.acceptance import acceptance_reject

    _require_acceptance(world)
    [app] = payable(world, 1)
    _accept(world, app, "failed", "圈舍未建")

    with pytest.raises(Forbidden) as refused:
        acceptance_reject(actor=world.user("reviewer_t1"), application_id=app.pk, reason="未建")

    assert refused.value.code == Code.ROLE


def test_a_failed_recheck_blocks_payment_until_the_county_rejects(world: World) -> None:
    from payments.services.acceptance import acceptance_reject

    _require_acceptance(world, percent=100)
    [app] = payable(world, 1)
    _accept(world, app)
    acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )
    acceptance_recheck(
        actor=world.user("approver_a"), application_id=app.pk, result="failed", notes="实为旧圈舍"
    )
    with pytest.raises(Refused) as refused:
        payment_round_create(
            actor=world.user("finance_a"),
            program_id=world.program.pk,
            area_code=COUNTY,
            application_ids=[app.pk],
        )
    assert refused.value.code == Code.ACCEPTANCE_FAILED

    acceptance_reject(actor=world.user("approver_a"), application_id=app.pk, reason="虚报项目")

    app.refresh_from_db()
    assert app.status == S.REJECTED


def test_rectification_is_allowed_once_per_failed_visit(world: World) -> None:
    _require_acceptance(world)
    [app] = payable(world, 1)
    _accept(world, app, "failed", "圈舍未建")
    acceptance_rectification_allow(
        actor=world.user("approver_a"), application_id=app.pk, reason="已整改"
    )

    with pytest.raises(Refused) as again:
        acceptance_rectification_allow(
            actor=world.user("approver_a"), application_id=app.pk, reason="再次"
        )

    assert again.value.code == Code.WRONG_STATE
    _accept(world, app)  # the second visit
    assert _round_codes(world) == {app.pk: "paid"}


def test_acceptance_state_rectification_reject_and_samples_through_the_api(
    world: World, api: Callable[..., APIClient]
) -> None:
    _require_acceptance(world, percent=100)
    fixed, rejected, sampled = payable(world, 3)
    reviewer, county = api("reviewer_t1"), api("approver_a")
    base = "/api/v1/applications/{}/acceptance/"
    for app in (fixed, rejected):
        reviewer.post(base.format(app.pk), {"result": "failed", "notes": "未建成"}, format="json")
    reviewer.post(base.format(sampled.pk), {"result": "passed"}, format="json")

    allowed = county.post(base.format(fixed.pk) + "rectification/", {"reason": "已整改"})
    no_reason = county.post(base.format(rejected.pk) + "reject/", {"reason": ""})
    refused = county.post(base.format(sampled.pk) + "reject/", {"reason": "不予"})
    done = county.post(base.format(rejected.pk) + "reject/", {"reason": "未按期建成"})
    state = reviewer.get(base.format(fixed.pk))
    drawn = county.post(
        "/api/v1/acceptance-samples/", {"program": world.program.pk, "area": COUNTY}
    )
    listed = api("inspector_a").get("/api/v1/acceptance-samples/")
    detail = api("inspector_a").get(f"/api/v1/acceptance-samples/{drawn.json()['id']}/")
    recheck = county.post(
        "/api/v1/acceptance-samples/recheck/",
        {"application": sampled.pk, "result": "passed"},
        format="json",
    )
    foreign = api("inspector_b").get(f"/api/v1/acceptance-samples/{drawn.json()['id']}/")

    assert allowed.status_code == 200 and allowed.json()["rectification_allowed_by"] == "approver_a"
    assert no_reason.status_code == 400
    assert (refused.status_code, refused.json()["code"]) == (409, "acceptance_only")
    assert done.status_code == 200 and done.json()["status"] == S.REJECTED
    body = state.json()
    assert (body["state"], body["acceptance_required"], len(body["visits"])) == (
        "revisit_due",
        True,
        1,
    )
    assert drawn.status_code == 201 and drawn.json()["chosen"] == [sampled.pk]
    assert [s["id"] for s in listed.json()["results"]] == [drawn.json()["id"]]
    assert detail.json()["redraw_matches"] is True
    assert detail.json()["items"][0]["application"] == sampled.pk
    assert recheck.status_code == 200 and recheck.json()["result"] == "passed"
    assert foreign.status_code == 404


def test_a_sample_whose_record_was_edited_no_longer_draws_the_same(
    world: World, api: Callable[..., APIClient]
) -> None:
    _require_acceptance(world, percent=50)
    apps = payable(world, 4)
    for app in apps:
        _accept(world, app)
    sample = acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )
    chosen = set(sample.items.values_list("application_id", flat=True))
    other = next(a.pk for a in apps if a.pk not in chosen)
    # Someone swaps a sampled application for another one behind the service's back.
    sample.items.filter(application_id=min(chosen)).update(application_id=other)

    detail = api("inspector_a").get(f"/api/v1/acceptance-samples/{sample.pk}/")

    assert detail.json()["redraw_matches"] is False


def test_a_visit_with_photos_is_all_or_nothing(
    world: World, api: Callable[..., APIClient], settings: Any, tmp_path: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from approvals.models import Attachment
    from payments.models import Acceptance

    settings.MEDIA_ROOT = str(tmp_path)
    _require_acceptance(world)
    [app] = payable(world, 1)
    url = f"/api/v1/applications/{app.pk}/acceptance/"
    png = PNG

    def photo(name: str, data: bytes) -> SimpleUploadedFile:
        return SimpleUploadedFile(name, data, content_type="image/png")

    bad = api("reviewer_t1").post(
        url,
        {"result": "passed", "photos": [photo("圈舍.png", png), photo("说明.png", b"MZ\x90")]},
        format="multipart",
    )
    assert bad.status_code == 400
    assert "photos" in bad.json()
    assert not Acceptance.objects.filter(application=app).exists()
    photos = Attachment.objects.filter(application=app, kind=Attachment.Kind.ACCEPTANCE_PHOTO)
    assert not photos.exists()
    assert not any(tmp_path.rglob("*.png"))  # nothing stored either

    good = api("reviewer_t1").post(
        url,
        {"result": "passed", "photos": [photo("圈舍1.png", png), photo("圈舍2.png", png)]},
        format="multipart",
    )

    assert good.status_code == 201, good.content
    assert photos.count() == 2
    entry = AuditEntry.objects.get(action="acceptance.record", object_id=str(app.pk))
    assert entry.changes["photos"] == [None, "2"]


def test_an_application_in_an_open_round_is_neither_sampled_nor_rejected(world: World) -> None:
    from payments.services.acceptance import acceptance_reject

    _require_acceptance(world, percent=100)
    in_round, waiting = payable(world, 2)
    _accept(world, in_round)
    payment_round_create(
        actor=world.user("finance_a"),
        program_id=world.program.pk,
        area_code=COUNTY,
        application_ids=[in_round.pk],
    )
    _accept(world, waiting)

    sample = acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )
    # Its work failed after all (a re-check elsewhere): still not rejected while in a round.
    Acceptance.objects.filter(application=in_round).update(result="failed", notes="未建成")
    with pytest.raises(Refused) as refused:
        acceptance_reject(actor=world.user("approver_a"), application_id=in_round.pk, reason="未建")

    assert sample.population == [waiting.pk]
    assert refused.value.code == Code.IN_OPEN_ROUND


def test_the_sample_takes_the_percent_in_force_not_a_future_one(world: World) -> None:
    from datetime import timedelta

    from applications.services import program_version_add
    from common import clock
    from tests.factories import SEED_PROGRAM_ITEMS

    _require_acceptance(world, percent=20)
    apps = payable(world, 5)
    for app in apps:
        _accept(world, app)
    program_version_add(
        actor=None,
        program=world.program,
        effective_from=clock.today() + timedelta(days=30),
        policy_reference="下月起全部复核",
        household_cap=world.program.versions.first().household_cap,  # type: ignore[union-attr]
        items=SEED_PROGRAM_ITEMS,
        acceptance_required=True,
        acceptance_sample_percent=100,
    )

    sample = acceptance_sample_draw(
        actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
    )

    assert (sample.percent, sample.items.count()) == (20, 1)
