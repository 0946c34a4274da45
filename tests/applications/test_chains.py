"""The chain declarations: what a declaration must hold, what derives from it, and that a new
chain (a declaration and a flow, nothing else) gets a working lifecycle, process, labels,
audit replay and queue."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock

import workflows.flows
from applications.chains import (
    SUBSIDY,
    Chain,
    Move,
    Page,
    Step,
    chain_check,
    chain_for_kind,
    chain_register,
    chain_unregister,
    moves,
)
from applications.lifecycle import lifecycle_of
from applications.models import Application, Area, Program
from applications.roles import Role
from approvals import policy
from approvals.labels import ACTION_LABELS, STEP_LABELS
from approvals.services.filing import application_create
from approvals.services.transitions import application_transition
from audit.verify import ledger_verify, replays
from common.errors import Code, Refused
from tests.factories import COUNTY, VILLAGE_1, World, seed_program
from workflows.models import ApplicationProcess
from workflows.selectors import active_task, process_divergences, tasks_queue
from workflows.views import task_redirect

S = Application.Status
DUMMY_KIND = "dummy"


# --- the declaration itself ------------------------------------------------------------------


def test_subsidy_chain_declaration_is_whole() -> None:
    assert chain_check(SUBSIDY) == []


def test_every_rule_a_step_names_exists() -> None:
    named = {rule for step in SUBSIDY.steps for rule in step.rules}

    assert named <= set(policy.RULES)


def test_subsidy_chain_derives_nodes_of_statuses() -> None:
    assert SUBSIDY.node_of_status == {
        S.DRAFT: "submit",
        S.SUBMITTED: "start_posting",
        S.RETURNED: "submit",
        S.POSTED: "posting",
        S.TOWNSHIP_REVIEW: "township_review",
        S.COUNTY_REVIEW: "county_review",
        S.APPROVED: "disburse",
        S.DISBURSED: None,
        S.REJECTED: None,
        S.WITHDRAWN: None,
    }


def test_subsidy_chain_pages_and_reasons() -> None:
    assert SUBSIDY.names_on(Page.CADRE) == ("submit", "start_posting", "withdraw")
    assert SUBSIDY.reason_required == frozenset({"return", "reject"})
    assert SUBSIDY.approvals == ("township_approve", "county_approve")


@pytest.mark.parametrize(
    "step, problem",
    [
        (Step("x", _("X"), Page.CADRE, ()), "no moves"),
        (
            Step("x", _(""), Page.CADRE, moves(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "a")),
            "no label",
        ),
        (Step("x", _("X"), Page.CADRE, moves(S.DRAFT, S.SUBMITTED, None, "a")), "system move"),
        (
            Step("x", _("X"), Page.CADRE, moves("nowhere", S.SUBMITTED, Role.VILLAGE_CADRE, "a")),
            "nothing reaches",
        ),
        (
            Step("x", _("X"), Page.CADRE, (Move(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "b"),)),
            "left from nodes",
        ),
    ],
)
def test_chain_check_names_what_a_step_lacks(step: Step, problem: str) -> None:
    base = Step("a", _("A"), Page.CADRE, moves(S.DRAFT, S.APPROVED, Role.VILLAGE_CADRE, "a"))
    chain = Chain("bad", _("Bad"), ("bad",), "x.y", S.DRAFT, (base, step))

    problems = chain_check(chain)

    assert any(problem in p for p in problems), problems
    with pytest.raises(ValueError, match=problem):
        chain_register(chain)
    assert chain_for_kind("bad") is None


def test_chain_check_refuses_a_step_declared_twice() -> None:
    step = Step("a", _("A"), Page.CADRE, moves(S.DRAFT, S.APPROVED, Role.VILLAGE_CADRE, "a"))
    chain = Chain("twice", _("Twice"), ("twice",), "x.y", S.DRAFT, (step, step))

    assert any("declared twice" in p for p in chain_check(chain))


def test_a_kind_travels_one_chain() -> None:
    other = Chain(
        "other",
        _("Other"),
        (Program.Kind.SUBSIDY,),
        "x.y",
        S.DRAFT,
        (Step("a", _("A"), Page.CADRE, moves(S.DRAFT, S.APPROVED, Role.VILLAGE_CADRE, "a")),),
    )

    with pytest.raises(ValueError, match="already travels"):
        chain_register(other)
    assert chain_for_kind(Program.Kind.SUBSIDY) is SUBSIDY


# --- a third chain, declared here and nowhere else -----------------------------------------------


def _village(process: ApplicationProcess) -> Area:
    return Area.objects.get(code=process.application.area_code)


def _township(process: ApplicationProcess) -> Area:
    return Area.objects.get(code=process.application.area_code[:9].ljust(12, "0"))


class DummyFlow(flow.Flow):
    """A chain of two steps: the village submits, the township decides."""

    process_class = ApplicationProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)

    start = flow.StartHandle(this.start_process).Next(this.submit)
    submit = (
        flow.View(task_redirect)
        .Permission("applications.act_village_cadre", obj=_village)
        .Next(this.review)
    )
    review = (
        flow.View(task_redirect)
        .Permission("applications.act_township_reviewer", obj=_township)
        .Next(this.done)
    )
    done = flow.End()

    def start_process(self, activation: Any, application: Application) -> Any:
        activation.process.application = application
        activation.process.artifact = application
        return activation.process


DUMMY = Chain(
    key="dummy",
    label=_("Dummy"),
    kinds=(DUMMY_KIND,),
    flow="workflows.flows.DummyFlow",
    initial=S.DRAFT,
    committed=frozenset({S.APPROVED}),
    steps=(
        Step(
            "submit",
            _("Submit"),
            Page.CADRE,
            moves(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "submit"),
            rules=("has_items",),
            records_actor="submitted_by",
        ),
        Step(
            "decide",
            _("Decide at once"),
            Page.REVIEW,
            moves(S.SUBMITTED, S.APPROVED, Role.TOWNSHIP_REVIEWER, "review"),
            rules=("filer_not_approver",),
            records_actor="township_approved_by",
            commits_budget=True,
        ),
        Step(
            "withdraw",
            _("Withdraw"),
            Page.CADRE,
            moves((S.DRAFT, S.SUBMITTED), S.WITHDRAWN, Role.VILLAGE_CADRE, None),
        ),
    ),
)


@pytest.fixture
def dummy_chain(monkeypatch: pytest.MonkeyPatch) -> Iterator[Chain]:
    # The flow lives in this test module; viewflow stores a flow by its module path inside an
    # installed app, so it is reachable as workflows.flows.DummyFlow for the test's length.
    monkeypatch.setattr(DummyFlow, "__module__", "workflows.flows")
    monkeypatch.setattr(workflows.flows, "DummyFlow", DummyFlow, raising=False)
    chain_register(DUMMY)
    yield DUMMY
    chain_unregister(DUMMY.key)


def _dummy_application(world: World) -> Application:
    program = seed_program(county_code=COUNTY, code="dummy-program", budget=Decimal("9000.00"))
    Program.objects.filter(pk=program.pk).update(kind=DUMMY_KIND)
    return application_create(
        actor=world.user("cadre_v1"),
        household_id=world.household(VILLAGE_1).pk,
        program_id=program.pk,
        items=[{"item": "sheep", "quantity": 5}],
    )


@pytest.mark.django_db
def test_a_new_chain_gets_a_lifecycle(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)

    lifecycle = lifecycle_of(app, world.user("cadre_v1"))

    assert lifecycle.chain is dummy_chain
    assert lifecycle.allowed_by_role("submit", world.user("cadre_v1"))
    assert lifecycle.method("township_approve") is None  # a subsidy step, not this chain's


@pytest.mark.django_db
def test_a_new_chain_runs_its_own_process_and_steps(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)
    assert app.process.flow_class is DummyFlow
    assert active_task(app).flow_task.name == "submit"

    application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")
    assert active_task(app).flow_task.name == "review"
    app = application_transition(
        actor=world.user("reviewer_t1"), application_id=app.pk, name="decide"
    )

    assert app.status == S.APPROVED
    assert app.township_approved_by == world.user("reviewer_t1")
    assert active_task(app) is None
    assert not process_divergences().exists()
    assert Program.objects.get(pk=app.program_id).committed == app.amount


@pytest.mark.django_db
def test_a_new_chain_runs_its_declared_rules(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)
    cadre = world.user("cadre_v1")
    application_transition(actor=cadre, application_id=app.pk, name="submit")
    Application.objects.filter(pk=app.pk).update(created_by=world.user("reviewer_t1"))

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("reviewer_t1"), application_id=app.pk, name="decide"
        )

    assert refused.value.code == Code.SEPARATION_OF_DUTIES


@pytest.mark.django_db
def test_a_new_chain_refuses_another_chains_step(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)

    with pytest.raises(Refused) as refused:
        application_transition(
            actor=world.user("cadre_v1"), application_id=app.pk, name="start_posting"
        )

    assert refused.value.code == Code.WRONG_STATE


@pytest.mark.django_db
def test_a_new_chain_is_named_on_the_pages(dummy_chain: Chain) -> None:
    assert str(STEP_LABELS["decide"]) == str(_("Decide at once"))
    assert "application.decide" in ACTION_LABELS
    assert "application.township_approve" in ACTION_LABELS


@pytest.mark.django_db
def test_a_new_chain_is_replayed_by_the_audit_trail(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)
    application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")
    application_transition(actor=world.user("reviewer_t1"), application_id=app.pk, name="decide")
    assert ledger_verify(replayers=replays()).ok

    Application.objects.filter(pk=app.pk).update(amount=Decimal("1.00"))

    report = ledger_verify(replayers=replays())
    assert not report.ok
    assert any(f"application {app.pk}" in p.detail for p in report.problems)


@pytest.mark.django_db
def test_a_new_chain_fills_the_reviewers_queue(world: World, dummy_chain: Chain) -> None:
    app = _dummy_application(world)
    reviewer = world.user("reviewer_t1")
    assert app.pk not in set(tasks_queue(reviewer).values_list("pk", flat=True))

    application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="submit")

    queued = set(tasks_queue(reviewer).values_list("pk", flat=True))
    assert app.pk in queued
    subsidy_submitted = world.application(S.SUBMITTED)
    assert subsidy_submitted.pk not in set(tasks_queue(reviewer).values_list("pk", flat=True))
