"""The guards of the chain, through the services: posting window and objections, reasons,
separation of duties, one active application, eligibility, caps, budget."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from applications.errors import Forbidden, InvalidInput, NotFound, Refused
from applications.models import Application, Household
from applications.permissions import forget_grants
from applications.roles import Role
from applications.services import household_update, role_grant
from approvals.models import Decision, Objection
from approvals.services import (
    application_create,
    application_edit,
    application_transition,
    objection_raise,
    objection_resolve,
    postings_close_due,
)
from audit.models import AuditEntry
from tests.factories import (
    TOWNSHIP_1,
    VILLAGE_1,
    World,
    after_posting,
    record_appraisal,
    seed_program,
    upload_signed_agreement,
)

S = Application.Status


# --- the posting window and objections -------------------------------------------------


@pytest.mark.django_db
def test_close_posting_refused_before_window_ends(world: World) -> None:
    app = world.application(S.POSTED)

    with pytest.raises(Refused):
        application_transition(actor=None, application_id=app.pk, name="close_posting")

    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_postings_close_due_leaves_open_window(world: World) -> None:
    app = world.application(S.POSTED)

    closed = postings_close_due(now=timezone.now())

    assert closed == 0
    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_postings_close_due_closes_after_window(world: World) -> None:
    app = world.application(S.POSTED)

    closed = postings_close_due(now=after_posting(app))

    assert closed == 1
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_close_posting_refused_with_open_objection(world: World) -> None:
    app = world.application(S.POSTED)
    objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="他家有轿车")

    with pytest.raises(Refused):
        application_transition(
            actor=None, application_id=app.pk, name="close_posting", now=after_posting(app)
        )

    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_postings_close_due_skips_open_objection(world: World) -> None:
    app = world.application(S.POSTED)
    objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="他家有轿车")

    assert postings_close_due(now=after_posting(app)) == 0


@pytest.mark.django_db
def test_objection_upheld_rejects_application(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=True, reason="属实"
    )

    app.refresh_from_db()
    objection.refresh_from_db()
    assert app.status == S.REJECTED
    assert objection.status == Objection.Status.UPHELD
    assert Decision.objects.filter(application=app, transition="reject").count() == 1


@pytest.mark.django_db
def test_objection_dismissed_keeps_application_posted(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=False, reason="不实"
    )

    app.refresh_from_db()
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_objection_dismissed_lets_posting_close(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=False, reason="不实"
    )

    assert postings_close_due(now=after_posting(app)) == 1

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_objection_resolve_refused_for_village_cadre(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    with pytest.raises(Forbidden):
        objection_resolve(
            actor=world.user("cadre_v1"), objection_id=objection.pk, upheld=True, reason="属实"
        )

    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN


@pytest.mark.django_db
def test_objection_resolve_refused_twice(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    reviewer = world.user("reviewer_t1")
    objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=False, reason="不实")

    with pytest.raises(Refused):
        objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=True, reason="属实")

    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_objection_raise_refused_outside_posting(world: World) -> None:
    app = world.application(S.SUBMITTED)

    with pytest.raises(Refused):
        objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    assert not Objection.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_objection_raise_public_allows_anonymous(world: World) -> None:
    app = world.application(S.POSTED)

    objection = objection_raise(actor=None, application_id=app.pk, text="有房有车", public=True)

    assert objection.raised_by is None
    assert objection.status == Objection.Status.OPEN


@pytest.mark.django_db
def test_approval_refused_while_objection_open(world: World) -> None:
    app = world.application(S.POSTED)
    objection_raise(actor=None, application_id=app.pk, text="有房有车", public=True)

    with pytest.raises(Refused):
        application_transition(
            actor=None, application_id=app.pk, name="close_posting", now=after_posting(app)
        )
    with pytest.raises(Refused):
        application_transition(
            actor=world.user("reviewer_t1"), application_id=app.pk, name="township_approve"
        )

    app.refresh_from_db()
    assert app.status == S.POSTED


# --- reasons ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["return", "reject"])
def test_transition_without_reason_refused(world: World, step: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(InvalidInput) as error:
        application_transition(
            actor=world.user("reviewer_t1"), application_id=app.pk, name=step, reason="   "
        )

    assert "reason" in error.value.as_dict()
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_return_records_reason(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    application_transition(
        actor=world.user("reviewer_t1"), application_id=app.pk, name="return", reason="缺照片"
    )

    app.refresh_from_db()
    assert app.last_reason == "缺照片"
    assert Decision.objects.get(application=app, transition="return").reason == "缺照片"


# --- separation of duties -----------------------------------------------------------------


@pytest.mark.django_db
def test_township_approve_refused_for_filer_with_reviewer_role(world: World) -> None:
    cadre = world.user("cadre_v1")
    role_grant(actor=None, username="cadre_v1", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_1)
    forget_grants(cadre)
    app = world.application(S.TOWNSHIP_REVIEW)
    assert app.created_by_id == cadre.pk

    with pytest.raises(Refused):
        application_transition(actor=cadre, application_id=app.pk, name="township_approve")

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_township_reject_refused_for_filer_with_reviewer_role(world: World) -> None:
    cadre = world.user("cadre_v1")
    role_grant(actor=None, username="cadre_v1", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_1)
    forget_grants(cadre)
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(Refused):
        application_transition(actor=cadre, application_id=app.pk, name="reject", reason="无")

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_county_approve_refused_for_township_approver(world: World) -> None:
    reviewer = world.user("reviewer_t1")
    role_grant(
        actor=None,
        username="reviewer_t1",
        role=Role.COUNTY_APPROVER,
        area_code=world.program.area_id,
    )
    forget_grants(reviewer)
    app = world.application(S.COUNTY_REVIEW)
    assert app.township_approved_by_id == reviewer.pk

    with pytest.raises(Refused):
        application_transition(actor=reviewer, application_id=app.pk, name="county_approve")

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_disburse_refused_for_approver_with_finance_role(world: World) -> None:
    approver = world.user("approver_a")
    role_grant(
        actor=None,
        username="approver_a",
        role=Role.FINANCE_OFFICER,
        area_code=world.program.area_id,
    )
    forget_grants(approver)
    app = world.application(S.APPROVED)

    with pytest.raises(Refused):
        application_transition(actor=approver, application_id=app.pk, name="disburse")

    app.refresh_from_db()
    assert app.status == S.APPROVED


# --- one active application, eligibility, caps, budget -----------------------------------


@pytest.mark.django_db
def test_application_create_refused_with_active_application(world: World) -> None:
    first = world.application(S.POSTED)

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=first.household_id,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    assert "household" in error.value.as_dict()
    assert Application.objects.filter(household_id=first.household_id).count() == 1


@pytest.mark.django_db
def test_application_create_allowed_after_rejection(world: World) -> None:
    first = world.application(S.REJECTED)

    second = application_create(
        actor=world.user("cadre_v1"),
        household_id=first.household_id,
        program_id=world.program.pk,
        items=[{"item": "sheep", "quantity": 1}],
    )

    assert second.status == S.DRAFT


@pytest.mark.django_db
def test_application_create_refused_for_exited_household(world: World) -> None:
    household = world.household(VILLAGE_1)
    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, status=Household.Status.EXITED
    )

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    assert "household" in error.value.as_dict()
    assert not Application.objects.filter(household=household).exists()


@pytest.mark.django_db
def test_application_create_allowed_for_returned_household(world: World) -> None:
    household = world.household(VILLAGE_1)
    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, status=Household.Status.RETURNED
    )

    app = application_create(
        actor=world.user("cadre_v1"),
        household_id=household.pk,
        program_id=world.program.pk,
        items=[{"item": "sheep", "quantity": 1}],
    )

    assert app.amount == Decimal("200.00")


@pytest.mark.django_db
def test_submit_refused_after_household_exited(world: World) -> None:
    app = world.application(S.DRAFT)
    household_update(
        actor=world.user("cadre_v1"), household_id=app.household_id, status=Household.Status.EXITED
    )

    with pytest.raises(Refused):
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")

    app.refresh_from_db()
    assert app.status == S.DRAFT


@pytest.mark.django_db
def test_submit_refused_without_appraisal(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(Refused):
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")

    app.refresh_from_db()
    assert app.status == S.DRAFT


@pytest.mark.django_db
def test_application_amount_computed_from_items(world: World) -> None:
    app = world.application(
        S.DRAFT, items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 10}]
    )

    assert app.amount == Decimal("5000.00")
    assert sorted((line.item.code, line.amount) for line in app.items.all()) == [
        ("pen", Decimal("3000.00")),
        ("sheep", Decimal("2000.00")),
    ]


@pytest.mark.django_db
def test_application_create_refused_over_cap(world: World) -> None:
    household = world.household(VILLAGE_1)

    with pytest.raises(InvalidInput) as error:
        application_create(
            actor=world.user("cadre_v1"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 11}],
        )

    assert "items" in error.value.as_dict()
    assert not Application.objects.filter(household=household).exists()


@pytest.mark.django_db
def test_application_create_cap_counts_earlier_payments(world: World) -> None:
    first = world.application(S.DISBURSED)  # 4000 yuan paid

    with pytest.raises(InvalidInput):
        application_create(
            actor=world.user("cadre_v1"),
            household_id=first.household_id,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 6}],  # 1200 > the 1000 left
        )

    assert Application.objects.filter(household_id=first.household_id).count() == 1


@pytest.mark.django_db
def test_application_edit_refused_over_cap(world: World) -> None:
    app = world.application(S.DRAFT)

    with pytest.raises(InvalidInput):
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            items=[{"item": "sheep", "quantity": 26}],
        )

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")


@pytest.mark.django_db
def test_application_edit_refused_after_submit(world: World) -> None:
    app = world.application(S.SUBMITTED)

    with pytest.raises(Refused):
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")


@pytest.mark.django_db
def test_appraisal_in_future_refused(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(InvalidInput):
        application_edit(
            actor=world.user("cadre_v1"),
            application_id=app.pk,
            appraisal_date=timezone.localdate() + timedelta(days=1),
        )

    app.refresh_from_db()
    assert app.appraisal_date is None


@pytest.mark.django_db
def test_county_approve_refused_when_budget_exhausted(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("3000.00")
    )
    app = world.application(S.COUNTY_REVIEW, program=program)  # asks 4000

    with pytest.raises(Refused, match="3000"):
        application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="county_approve"
        )

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_county_approve_budget_counts_earlier_approvals(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("6000.00")
    )
    world.application(S.APPROVED, program=program)  # 4000 committed
    second = world.application(S.COUNTY_REVIEW, program=program)

    with pytest.raises(Refused):
        application_transition(
            actor=world.user("approver_a"), application_id=second.pk, name="county_approve"
        )

    second.refresh_from_db()
    assert second.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_county_approve_adds_amount_to_program_committed(world: World) -> None:
    program = seed_program(county_code=world.program.area_id, code="small-budget")
    first = world.application(S.APPROVED, program=program)
    second = world.application(S.DISBURSED, program=program)
    world.application(S.COUNTY_REVIEW, program=program)  # not committed yet

    program.refresh_from_db()

    assert program.committed == first.amount + second.amount == Decimal("8000.00")


@pytest.mark.django_db
def test_county_approve_refused_leaves_committed_unchanged(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("6000.00")
    )
    world.application(S.APPROVED, program=program)
    second = world.application(S.COUNTY_REVIEW, program=program)

    with pytest.raises(Refused):
        application_transition(
            actor=world.user("approver_a"), application_id=second.pk, name="county_approve"
        )

    program.refresh_from_db()
    assert program.committed == Decimal("4000.00")


@pytest.mark.django_db
def test_budget_refusal_audited(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("100.00")
    )
    app = world.application(S.COUNTY_REVIEW, program=program)

    with pytest.raises(Refused):
        application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="county_approve"
        )

    entry = AuditEntry.objects.filter(object_type="application", object_id=str(app.pk)).latest(
        "seq"
    )
    assert (entry.action, entry.outcome) == ("application.county_approve", "refused")


# --- scope of the services ------------------------------------------------------------------


@pytest.mark.django_db
def test_transition_out_of_scope_not_found(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(NotFound):
        application_transition(
            actor=world.user("reviewer_t2"), application_id=app.pk, name="township_approve"
        )

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_transition_out_of_scope_audited(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    outsider = world.user("reviewer_b")

    with pytest.raises(NotFound):
        application_transition(actor=outsider, application_id=app.pk, name="township_approve")

    entry = AuditEntry.objects.get(actor=outsider, outcome=AuditEntry.Outcome.REFUSED)
    assert entry.object_id == str(app.pk)
    assert entry.area_code == app.area_code


@pytest.mark.django_db
def test_application_create_refused_for_household_of_other_village(world: World) -> None:
    household = world.household(VILLAGE_1)

    with pytest.raises(InvalidInput):
        application_create(
            actor=world.user("cadre_v2"),
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "sheep", "quantity": 1}],
        )

    assert not Application.objects.filter(household=household).exists()


@pytest.mark.django_db
def test_record_appraisal_refused_for_reviewer(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(Forbidden):
        record_appraisal(actor=world.user("reviewer_t1"), application_id=app.pk)

    app.refresh_from_db()
    assert app.appraisal_date is None


# --- two people at the same moment (PostgreSQL: real row locks, real threads) ----------------


def _race(*steps: Callable[[], object]) -> list[object]:
    """Run the steps in threads released together; each thread has its own connection."""
    barrier = threading.Barrier(len(steps))
    outcomes: list[object] = [None] * len(steps)

    def run(index: int, step: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            step()
            outcomes[index] = "ok"
        except Exception as exc:  # the outcome is what the test asserts
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _step(actor: Any, app: Application, name: str) -> Callable[[], object]:
    return lambda: application_transition(actor=actor, application_id=app.pk, name=name)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_parallel_township_approvals_exactly_one_succeeds(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    other, _granted = role_grant(
        actor=None, username="reviewer_t1b", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_1
    )

    outcomes = _race(
        _step(world.user("reviewer_t1"), app, "township_approve"),
        _step(other, app, "township_approve"),
    )

    assert outcomes.count("ok") == 1
    assert [type(o) for o in outcomes if o != "ok"] == [Refused]
    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW
    assert Decision.objects.filter(application=app, transition="township_approve").count() == 1
    entries = AuditEntry.objects.filter(
        object_type="application", object_id=str(app.pk), action="application.township_approve"
    )
    assert entries.filter(outcome=AuditEntry.Outcome.DONE).count() == 1
    assert entries.filter(outcome=AuditEntry.Outcome.REFUSED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_parallel_disbursements_exactly_one_succeeds(world: World) -> None:
    app = world.application(S.APPROVED)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    other, _granted = role_grant(
        actor=None,
        username="finance_a2",
        role=Role.FINANCE_OFFICER,
        area_code=world.program.area_id,
    )

    outcomes = _race(
        _step(world.user("finance_a"), app, "disburse"),
        _step(other, app, "disburse"),
    )

    assert outcomes.count("ok") == 1
    assert [type(o) for o in outcomes if o != "ok"] == [Refused]
    app.refresh_from_db()
    assert app.status == S.DISBURSED
    assert Decision.objects.filter(application=app, transition="disburse").count() == 1
    done = AuditEntry.objects.filter(
        object_id=str(app.pk), action="application.disburse", outcome=AuditEntry.Outcome.DONE
    )
    assert done.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_parallel_writes_keep_county_chain_intact(world: World) -> None:
    apps = [world.application(S.SUBMITTED) for _ in range(2)]
    cadre = world.user("cadre_v1")

    outcomes = _race(*(_step(cadre, app, "start_posting") for app in apps))

    assert outcomes == ["ok", "ok"]
    seqs = list(AuditEntry.objects.filter(chain="620902").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
