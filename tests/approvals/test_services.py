"""The guards of the chain, through the services: posting window and objections, reasons,
separation of duties, one active application, eligibility, caps, budget, conflict of
interest (recusal, kin flags) and the payment holds on the bank card."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from applications.models import Application, Household, KinDeclaration, KinFlag, Program
from applications.permissions import forget_grants
from applications.roles import Role
from applications.services import (
    household_update,
    program_version_add,
    program_version_current,
    role_grant,
)
from approvals import policy
from approvals.models import CardCheck, Decision, Objection
from approvals.selectors import card_facts
from approvals.services.card_checks import card_check_allowed, card_check_record
from approvals.services.filing import application_create, application_edit, subsidy_available
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import application_transition, approval_step, postings_close_due
from audit.models import AuditEntry
from common.errors import Forbidden, InvalidInput, NotFound, Refused
from tests.factories import (
    COUNTY,
    SEED_PROGRAM_ITEMS,
    TOWNSHIP_1,
    TOWNSHIP_2,
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    World,
    after_posting,
    bank_card_number,
    colleague,
    declare_kin,
    id_number,
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


# --- conflict of interest: recusal and kin flags (DOMAIN rule 4) ----------------------------


def kin_application(
    world: World, status: str, *, relative: str, area_code: str = VILLAGE_1
) -> Application:
    """An application walked to ``status`` for a household whose head holds the ID number
    ``relative``."""
    household = world.household(area_code, head_id_number=relative)
    return world.application(status, household=household)


def recusal_entries(application_id: int, action: str) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            object_type="application",
            object_id=str(application_id),
            action=action,
            outcome=AuditEntry.Outcome.REFUSED,
            reason=policy.recusal_refusal().message,
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("relation", KinDeclaration.RECUSING)
def test_close_relative_recuses_the_reviewer(world: World, relation: str) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=relation, id_number=relative)

    with pytest.raises(Forbidden) as refused:
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    assert refused.value.code == "recused"
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert KinFlag.objects.filter(application=app, official=reviewer).count() == 1


@pytest.mark.django_db
def test_other_relative_is_on_record_but_does_not_recuse(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.OTHER, id_number=relative)

    application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW
    assert not KinFlag.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_a_member_other_than_the_head_recuses_too(world: World) -> None:
    relative = id_number()
    household = world.household(
        VILLAGE_1, members=[{"name": "李秀英", "id_number": relative, "relation": "spouse"}]
    )
    app = world.application(S.TOWNSHIP_REVIEW, household=household)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.CHILD, id_number=relative)

    with pytest.raises(Forbidden):
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")


# (status of the application, step, the role refused; a colleague of the role takes it)
RECUSED_STEPS = [
    (S.DRAFT, "submit", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.SUBMITTED, "start_posting", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.DRAFT, "withdraw", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.TOWNSHIP_REVIEW, "township_approve", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.TOWNSHIP_REVIEW, "return", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.TOWNSHIP_REVIEW, "reject", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.COUNTY_REVIEW, "county_approve", Role.COUNTY_APPROVER, COUNTY),
    (S.COUNTY_REVIEW, "return", Role.COUNTY_APPROVER, COUNTY),
    (S.APPROVED, "disburse", Role.FINANCE_OFFICER, COUNTY),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "step", "role", "area"), RECUSED_STEPS)
def test_recused_official_refused_each_step_while_a_colleague_takes_it(
    world: World, status: str, step: str, role: str, area: str
) -> None:
    relative = id_number()
    app = kin_application(world, status, relative=relative)
    if step == "disburse":
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    official = world.actor(role, VILLAGE_1)
    declare_kin(official=official, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)
    other = colleague(f"{role}_colleague", role, area)
    reason = "核实后决定" if step in ("return", "reject") else ""

    with pytest.raises(Forbidden):
        application_transition(actor=official, application_id=app.pk, name=step, reason=reason)
    app.refresh_from_db()
    assert app.status == status
    assert len(recusal_entries(app.pk, f"application.{step}")) == 1

    application_transition(actor=other, application_id=app.pk, name=step, reason=reason)
    app.refresh_from_db()
    assert app.status != status
    assert Decision.objects.filter(application=app, transition=step, actor=other).exists()


@pytest.mark.django_db
def test_recused_cadre_may_not_file_while_a_colleague_may(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.SIBLING, id_number=relative)
    other = colleague("cadre_v1_colleague", Role.VILLAGE_CADRE, VILLAGE_1)

    with pytest.raises(Forbidden):
        application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}],
        )
    assert not Application.objects.filter(household=household).exists()
    assert AuditEntry.objects.filter(
        action="application.create",
        object_type="household",
        object_id=str(household.pk),
        outcome=AuditEntry.Outcome.REFUSED,
    ).exists()

    app = application_create(
        actor=other,
        household_id=household.pk,
        program_id=world.program.pk,
        items=[{"item": "pen", "quantity": 1}],
    )
    # Filed by the colleague: the cadre's own conflict is flagged at once.
    assert KinFlag.objects.filter(application=app, official=cadre).exists()


@pytest.mark.django_db
def test_cadre_recused_from_a_household_containing_themselves(world: World) -> None:
    own = id_number()
    household = world.household(
        VILLAGE_1, members=[{"name": "马自己", "id_number": own, "relation": "child"}]
    )
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.SELF, id_number=own)

    with pytest.raises(Forbidden):
        application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}],
        )


@pytest.mark.django_db
def test_recused_cadre_may_not_edit_nor_attach(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative)
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.PARENT, id_number=relative)

    with pytest.raises(Forbidden):
        application_edit(
            actor=cadre, application_id=app.pk, items=[{"item": "sheep", "quantity": 2}]
        )
    with pytest.raises(Forbidden):
        upload_signed_agreement(actor=cadre, application_id=app.pk)

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")
    assert not app.attachments.exists()
    assert len(recusal_entries(app.pk, "application.edit")) == 1
    assert len(recusal_entries(app.pk, "attachment.add")) == 1


@pytest.mark.django_db
def test_recused_reviewer_may_not_resolve_objections_while_a_colleague_may(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.POSTED, relative=relative)
    objection = objection_raise(
        actor=world.user("cadre_v1"), application_id=app.pk, text="反映该户条件较好。"
    )
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.GRANDCHILD, id_number=relative)
    other = colleague("reviewer_t1_colleague", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)

    with pytest.raises(Forbidden):
        objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=True, reason="成立")
    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN

    objection_resolve(actor=other, objection_id=objection.pk, upheld=False, reason="不成立")
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED


@pytest.mark.django_db
def test_recusal_applies_only_to_the_declaring_official(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    declare_kin(
        official=world.user("approver_a"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    application_transition(
        actor=world.user("reviewer_t1"), application_id=app.pk, name="township_approve"
    )

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_kin_flag_written_to_the_audit_trail_once(world: World) -> None:
    head, spouse = id_number(), id_number()
    household = world.household(
        VILLAGE_1,
        head_id_number=head,
        members=[{"name": "李秀英", "id_number": spouse, "relation": "spouse"}],
    )
    app = world.application(S.TOWNSHIP_REVIEW, household=household)
    reviewer = world.user("reviewer_t1")

    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SIBLING, id_number=head)
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SIBLING, id_number=spouse)
    with pytest.raises(Forbidden):
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    entries = AuditEntry.objects.filter(
        object_type="application", object_id=str(app.pk), action="application.kin_flag"
    )
    assert entries.count() == 1
    entry = entries.get()
    assert entry.changes["official"] == [None, "reviewer_t1"]
    assert entry.changes["relation"] == [None, "sibling"]
    assert head not in str(entry.changes)
    assert KinFlag.objects.filter(application=app).count() == 1


@pytest.mark.django_db
def test_kin_flag_detected_at_filing(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.PARENT, id_number=relative)
    assert not KinFlag.objects.exists()

    app = world.application(S.DRAFT, household=household)

    flag = KinFlag.objects.get(application=app)
    assert flag.official == reviewer
    entry = AuditEntry.objects.get(object_id=str(app.pk), action="application.kin_flag")
    assert entry.actor_name == "cadre_v1"


@pytest.mark.django_db
def test_kin_flag_needs_a_role_in_the_applications_area(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative, area_code=VILLAGE_3)
    reviewer = world.user("reviewer_t1")  # 泉湖乡; the household is in 东洞乡

    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)
    assert not KinFlag.objects.filter(application=app).exists()

    role_grant(
        actor=None, username="reviewer_t1", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_2
    )
    assert KinFlag.objects.filter(application=app, official=reviewer).count() == 1


@pytest.mark.django_db
def test_inspectors_relatives_are_not_flagged(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative)

    declare_kin(
        official=world.user("inspector_a"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    assert not KinFlag.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_closed_applications_are_not_flagged(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.WITHDRAWN, relative=relative)

    declare_kin(
        official=world.user("reviewer_t1"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    assert not KinFlag.objects.filter(application=app).exists()


# --- payment only to the head's card; holds (DOMAIN rule 5) ---------------------------------


def approved_with_agreement(world: World, household: Household | None = None) -> Application:
    app = world.application(S.APPROVED, household=household)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    return app


def disburse(world: World, app: Application, *, actor: Any = None, days_later: int = 0) -> None:
    application_transition(
        actor=actor or world.user("finance_a"),
        application_id=app.pk,
        name="disburse",
        now=timezone.now() + timedelta(days=days_later),
    )


def card_change(world: World, household: Household) -> None:
    household_update(
        actor=world.user("cadre_v1"), household_id=household.pk, bank_card=bank_card_number()
    )


@pytest.mark.django_db
def test_shared_card_holds_the_payment(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app)

    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert "另一户" in refused.value.message or "another household" in refused.value.message
    assert AuditEntry.objects.filter(
        object_id=str(app.pk), action="application.disburse", outcome=AuditEntry.Outcome.REFUSED
    ).exists()


@pytest.mark.django_db
def test_card_check_releases_the_hold(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    check = card_check_record(
        actor=world.user("approver_a"), application_id=app.pk, reason="经银行核实，户名为户主本人。"
    )
    disburse(world, app)

    app.refresh_from_db()
    assert app.status == S.DISBURSED
    assert check.bank_card_hash == household.bank_card_hash
    entry = AuditEntry.objects.get(object_id=str(app.pk), action="application.card_check")
    assert entry.actor_name == "approver_a"
    assert entry.reason == "经银行核实，户名为户主本人。"


@pytest.mark.django_db
def test_card_checker_may_not_pay_while_another_officer_may(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)
    finance = world.user("finance_a")
    card_check_record(actor=finance, application_id=app.pk, reason="电话核实户主本人开卡。")

    with pytest.raises(Refused):
        disburse(world, app, actor=finance)
    app.refresh_from_db()
    assert app.status == S.APPROVED

    disburse(world, app, actor=colleague("finance_a2", Role.FINANCE_OFFICER, COUNTY))
    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_recent_card_change_holds_the_payment(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    card_change(world, household)

    with pytest.raises(Refused) as refused:
        disburse(world, app, days_later=29)
    assert "30" in refused.value.message

    disburse(world, app, days_later=31)
    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_card_change_window_is_the_program_parameter(world: World) -> None:
    program_version_add(
        actor=None,
        program=world.program,
        effective_from=timezone.localdate(),
        policy_reference="县扶贫办：一卡通变更后暂停发放5日",
        household_cap=Decimal("5000.00"),
        items=SEED_PROGRAM_ITEMS,
        card_change_hold_days=5,
    )
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    assert app.program_version.card_change_hold_days == 5
    card_change(world, household)

    with pytest.raises(Refused):
        disburse(world, app, days_later=4)
    disburse(world, app, days_later=6)

    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_a_new_card_after_the_check_holds_the_payment_again(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    card_change(world, household)
    card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="已核实。")
    card_change(world, household)

    with pytest.raises(Refused):
        disburse(world, app)


@pytest.mark.django_db
def test_card_not_in_the_heads_name_refused_at_payment(world: World) -> None:
    household = world.household(VILLAGE_1)
    app = approved_with_agreement(world, household)
    Household.objects.filter(pk=household.pk).update(bank_card_holder="张三")  # behind the app

    with pytest.raises(Refused):
        disburse(world, app)


@pytest.mark.django_db
def test_card_check_refused_when_nothing_is_held(world: World) -> None:
    app = approved_with_agreement(world)

    with pytest.raises(Refused):
        card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="核实。")
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_card_check_refused_to_a_cadre(world: World) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)

    with pytest.raises(Forbidden):
        card_check_record(actor=world.user("cadre_v1"), application_id=app.pk, reason="核实。")
    with pytest.raises(InvalidInput):
        card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason=" ")
    with pytest.raises(NotFound):
        card_check_record(actor=world.user("approver_b"), application_id=app.pk, reason="核实。")
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_card_check_refused_to_a_recused_officer(world: World) -> None:
    relative, card = id_number(), bank_card_number()
    household = world.household(VILLAGE_1, head_id_number=relative, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = approved_with_agreement(world, household)
    approver = world.user("approver_a")
    declare_kin(official=approver, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)

    with pytest.raises(Forbidden):
        card_check_record(actor=approver, application_id=app.pk, reason="核实。")
    assert not CardCheck.objects.exists()


@pytest.mark.django_db
def test_payment_unheld_by_default_goes_through(world: World) -> None:
    app = approved_with_agreement(world)

    disburse(world, app)

    app.refresh_from_db()
    assert app.status == S.DISBURSED


# --- the approval an application waits for ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (S.TOWNSHIP_REVIEW, "township_approve"),
        (S.COUNTY_REVIEW, "county_approve"),
        *((s, None) for s in S.values if s not in (S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW)),
    ],
)
def test_approval_step_is_the_state_machines_approval_of_the_status(
    status: str, step: str | None
) -> None:
    program = Program(kind=Program.Kind.SUBSIDY)
    assert approval_step(Application(status=status, program=program)) == step


# --- whether a card check is offered --------------------------------------------------------


def held_payment(world: World) -> Application:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    return approved_with_agreement(world, household)


def check_allowed(user: Any, app: Application, *, recused: bool = False) -> bool:
    return card_check_allowed(user, app, card=card_facts(app), recused=recused, now=timezone.now())


@pytest.mark.django_db
def test_card_check_allowed_for_the_county_officers_of_a_held_payment(world: World) -> None:
    app = held_payment(world)

    assert check_allowed(world.user("approver_a"), app)
    assert check_allowed(world.user("finance_a"), app)
    assert not check_allowed(world.user("cadre_v1"), app)
    assert not check_allowed(world.user("reviewer_t1"), app)
    assert not check_allowed(world.user("approver_a"), app, recused=True)


@pytest.mark.django_db
def test_card_check_allowed_as_long_as_the_service_would_take_it(world: World) -> None:
    app = held_payment(world)
    unheld = approved_with_agreement(world)
    assert not check_allowed(world.user("approver_a"), unheld)
    with pytest.raises(Refused):
        card_check_record(actor=world.user("approver_a"), application_id=unheld.pk, reason="核实。")

    card_check_record(actor=world.user("approver_a"), application_id=app.pk, reason="已核实。")

    assert not check_allowed(world.user("finance_a"), app)
    with pytest.raises(Refused):
        card_check_record(actor=world.user("finance_a"), application_id=app.pk, reason="再核实。")


# --- what a household may still receive -------------------------------------------------------


@pytest.mark.django_db
def test_subsidy_available_is_the_cap_less_what_was_approved_or_paid(world: World) -> None:
    household = world.household(VILLAGE_1)
    version = program_version_current(world.program)
    assert subsidy_available(household_id=household.pk, version=version) == Decimal("5000.00")
    draft = world.application(S.DRAFT, household=household)
    assert subsidy_available(household_id=household.pk, version=version) == Decimal("5000.00")

    application_transition(actor=world.user("cadre_v1"), application_id=draft.pk, name="withdraw")
    approved = world.application(S.APPROVED, household=household)  # 4000 yuan

    assert subsidy_available(household_id=household.pk, version=version) == Decimal("1000.00")
    assert subsidy_available(
        household_id=household.pk, version=version, exclude=approved.pk
    ) == Decimal("5000.00")
