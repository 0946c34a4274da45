"""``approvals.services.transitions``: the steps of the chain through ``application_transition``
(posting window, open objections, reasons, separation of duties, eligibility at submission,
budget), the posting timer, and two people acting at the same moment."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from applications.models import Application, Household, Program
from applications.permissions import forget_grants
from applications.roles import Role
from applications.services import (
    role_grant,
)
from approvals.models import Decision, Objection
from approvals.services.objections import objection_raise
from approvals.services.transitions import (
    application_transition,
    approval_step,
    available_transitions,
    postings_close_due,
)
from audit.models import AuditEntry
from common.errors import Code, InvalidInput, Refused
from tests.factories import (
    TOWNSHIP_1,
    World,
    after_posting,
    race,
    seed_program,
    upload_signed_agreement,
)
from workflows.selectors import process_divergences

S = Application.Status


# --- the posting window and objections -------------------------------------------------


@pytest.mark.django_db
def test_close_posting_refused_before_window_ends(world: World) -> None:
    app = world.application(S.POSTED)

    with pytest.raises(Refused) as refused:
        application_transition(actor=None, application_id=app.pk, name="close_posting")
    assert refused.value.code == Code.POSTING_OPEN

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

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=None, application_id=app.pk, name="close_posting", now=after_posting(app)
        )
    assert refused.value.code == Code.OBJECTION_OPEN

    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_postings_close_due_skips_open_objection(world: World) -> None:
    app = world.application(S.POSTED)
    objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="他家有轿车")

    assert postings_close_due(now=after_posting(app)) == 0


@pytest.mark.django_db
def test_approval_refused_while_objection_open(world: World) -> None:
    app = world.application(S.POSTED)
    objection_raise(actor=None, application_id=app.pk, text="有房有车", public=True)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=None, application_id=app.pk, name="close_posting", now=after_posting(app)
        )
    assert refused.value.code == Code.OBJECTION_OPEN
    # The township approval has the rule too: an objection still open once the application
    # reached the township's review (on record from before; ``objection_raise`` takes none
    # then) holds it. (On the posted application the state machine would refuse first.)
    reviewed = world.application(S.TOWNSHIP_REVIEW)
    Objection.objects.create(application=reviewed, text="有房有车")
    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("reviewer_t1"), application_id=reviewed.pk, name="township_approve"
        )
    assert refused.value.code == Code.OBJECTION_OPEN

    app.refresh_from_db()
    assert app.status == S.POSTED
    reviewed.refresh_from_db()
    assert reviewed.status == S.TOWNSHIP_REVIEW


# --- reasons ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["return", "reject"])
def test_transition_without_reason_refused(world: World, step: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(InvalidInput) as error:
        application_transition(
            actor=world.user("reviewer_t1"), application_id=app.pk, name=step, reason="   "
        )
    assert error.value.code == Code.REASON_REQUIRED

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

    with pytest.raises(Refused) as refused:
        application_transition(actor=cadre, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.SEPARATION_OF_DUTIES

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_township_reject_refused_for_filer_with_reviewer_role(world: World) -> None:
    cadre = world.user("cadre_v1")
    role_grant(actor=None, username="cadre_v1", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_1)
    forget_grants(cadre)
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(Refused) as refused:
        application_transition(actor=cadre, application_id=app.pk, name="reject", reason="无")
    assert refused.value.code == Code.SEPARATION_OF_DUTIES

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

    with pytest.raises(Refused) as refused:
        application_transition(actor=reviewer, application_id=app.pk, name="county_approve")
    assert refused.value.code == Code.SEPARATION_OF_DUTIES

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_approver_with_finance_role_may_not_put_their_approval_in_a_round(world: World) -> None:
    approver = world.user("approver_a")
    role_grant(
        actor=None,
        username="approver_a",
        role=Role.FINANCE_OFFICER,
        area_code=world.program.area_id,
    )
    forget_grants(approver)
    app = world.application(S.APPROVED)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)

    with pytest.raises(Refused) as refused:
        world.pay([app], maker=approver)
    assert refused.value.code == Code.SEPARATION_OF_DUTIES

    app.refresh_from_db()
    assert app.status == S.APPROVED


@pytest.mark.django_db
def test_submit_refused_after_household_exited(world: World) -> None:
    app = world.application(S.DRAFT)
    # The household exits while the application waits (an exit of its own, approved).
    world.status_change(Household.objects.get(pk=app.household_id), "exit")

    with pytest.raises(Refused) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")
    assert refused.value.code == Code.HOUSEHOLD_INELIGIBLE

    app.refresh_from_db()
    assert app.status == S.DRAFT


@pytest.mark.django_db
def test_submit_refused_without_appraisal(world: World) -> None:
    app = world.application(S.DRAFT, appraised=False)

    with pytest.raises(Refused) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")
    assert refused.value.code == Code.APPRAISAL_MISSING

    app.refresh_from_db()
    assert app.status == S.DRAFT


@pytest.mark.django_db
def test_county_approve_refused_when_budget_exhausted(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("3000.00")
    )
    app = world.application(S.COUNTY_REVIEW, program=program)  # asks 4000

    with pytest.raises(Refused, match="3000") as refused:
        application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="county_approve"
        )
    assert refused.value.code == Code.BUDGET_EXHAUSTED

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_county_approve_budget_counts_earlier_approvals(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("6000.00")
    )
    world.application(S.APPROVED, program=program)  # 4000 committed
    second = world.application(S.COUNTY_REVIEW, program=program)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("approver_a"), application_id=second.pk, name="county_approve"
        )
    assert refused.value.code == Code.BUDGET_EXHAUSTED

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

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("approver_a"), application_id=second.pk, name="county_approve"
        )
    assert refused.value.code == Code.BUDGET_EXHAUSTED

    program.refresh_from_db()
    assert program.committed == Decimal("4000.00")


@pytest.mark.django_db
def test_budget_refusal_audited(world: World) -> None:
    program = seed_program(
        county_code=world.program.area_id, code="small-budget", budget=Decimal("100.00")
    )
    app = world.application(S.COUNTY_REVIEW, program=program)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="county_approve"
        )
    assert refused.value.code == Code.BUDGET_EXHAUSTED

    entry = AuditEntry.objects.filter(object_type="application", object_id=str(app.pk)).latest(
        "seq"
    )
    assert (entry.action, entry.outcome) == ("application.county_approve", "refused")


# --- two people at the same moment (PostgreSQL: real row locks, real threads) ----------------


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

    outcomes = race(
        _step(world.user("reviewer_t1"), app, "township_approve"),
        _step(other, app, "township_approve"),
    )

    assert outcomes.count("ok") == 1
    assert [type(o) for o in outcomes if o != "ok"] == [Refused]
    # the second finds the step already taken
    assert [o.code for o in outcomes if isinstance(o, Refused)] == [Code.WRONG_STATE]
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
def test_parallel_writes_keep_county_chain_intact(world: World) -> None:
    apps = [world.application(S.SUBMITTED) for _ in range(2)]
    cadre = world.user("cadre_v1")

    outcomes = race(*(_step(cadre, app, "start_posting") for app in apps))

    assert outcomes == ["ok", "ok"]
    seqs = list(AuditEntry.objects.filter(chain="620902").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_an_approval_and_a_filing_at_once_do_not_deadlock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by ``make loadtest``: the county's approval locks the program (its budget)
    and then the county's chain head; a filing holds the chain head when it commits, and
    its commit checks that the program it names exists (a foreign key), which waited for
    the approval's lock: each waited for the other, and PostgreSQL killed one. The budget
    is now locked against other writers of it only (``FOR NO KEY UPDATE``), which a key
    check does not wait for. Here the approval holds the program's lock while the filing
    commits."""
    import threading

    from approvals import policy as policy_module
    from approvals.services.filing import application_create

    app = world.application(S.COUNTY_REVIEW)
    household = world.household()
    budget_locked, filing_done = threading.Event(), threading.Event()
    real_budget_refusal = policy_module.budget_refusal

    def budget_refusal_then_wait(*args: Any) -> Any:
        budget_locked.set()  # the program's row is locked by now
        filing_done.wait(timeout=3)  # the old lock held it until the deadlock was found
        return real_budget_refusal(*args)

    monkeypatch.setattr(policy_module, "budget_refusal", budget_refusal_then_wait)

    def approve() -> object:
        return application_transition(
            actor=world.user("approver_a"), application_id=app.pk, name="county_approve"
        )

    def file() -> object:
        assert budget_locked.wait(timeout=10)
        try:
            return application_create(
                actor=world.user("cadre_v1"),
                household_id=household.pk,
                program_id=app.program_id,
                items=[{"item": "sheep", "quantity": 5}],
            )
        finally:
            filing_done.set()

    outcomes = race(approve, file)

    assert outcomes == ["ok", "ok"]
    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert not process_divergences().exists()


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


@pytest.mark.django_db
def test_submit_refused_for_an_application_with_nothing_asked(world: World) -> None:
    """Filing needs items, so only an amount changed behind the services' back reaches
    this rule: it still refuses to submit an application that asks for nothing."""
    app = world.application(S.DRAFT)
    Application.objects.filter(pk=app.pk).update(amount=0)

    with pytest.raises(Refused) as refused:
        application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")
    assert refused.value.code == Code.NO_ITEMS


@pytest.mark.django_db
def test_a_person_never_pays_directly_with_the_paying_step(world: World) -> None:
    app = world.application(S.APPROVED)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("finance_a"), application_id=app.pk, name="disburse"
        )

    assert refused.value.code == Code.PAY_THROUGH_ROUND
    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert "disburse" not in available_transitions(app, world.user("finance_a"))
    assert AuditEntry.objects.filter(
        object_id=str(app.pk), action="application.disburse", outcome=AuditEntry.Outcome.REFUSED
    ).exists()
