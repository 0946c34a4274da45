"""The start-up check of the chains against the rules, flows, nodes and fields they name."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from applications.chains import SUBSIDY, Chain, Page, Step, moves
from applications.models import Application
from applications.roles import Role
from workflows.checks import chain_problems, check_chains

S = Application.Status
FLOW = "workflows.flows.SubsidyApplicationFlow"


def _chain(step: Step, flow: str = FLOW) -> Chain:
    return Chain("checked", _("Checked"), ("checked",), flow, S.DRAFT, (step,))


def test_the_registered_chains_pass_the_check() -> None:
    assert chain_problems(SUBSIDY) == []
    assert check_chains() == []


def test_a_rule_that_does_not_exist_is_named() -> None:
    step = Step(
        "submit",
        _("Submit"),
        Page.CADRE,
        moves(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "submit"),
        rules=("has_items", "has_no_such_rule"),
    )

    assert chain_problems(_chain(step)) == [
        "checked.submit: no rule 'has_no_such_rule' in policy.RULES"
    ]


def test_a_node_the_flow_lacks_is_named() -> None:
    step = Step(
        "submit",
        _("Submit"),
        Page.CADRE,
        moves(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "nowhere"),
    )

    assert chain_problems(_chain(step)) == ["checked.submit: flow has no node 'nowhere'"]


def test_an_actor_field_the_application_lacks_is_named() -> None:
    step = Step(
        "submit",
        _("Submit"),
        Page.CADRE,
        moves(S.DRAFT, S.SUBMITTED, Role.VILLAGE_CADRE, "submit"),
        records_actor="submitted_by_nobody",
    )

    assert chain_problems(_chain(step)) == [
        "checked.submit: application has no field 'submitted_by_nobody'"
    ]


def test_a_flow_that_does_not_exist_is_named() -> None:
    step = Step("submit", _("Submit"), Page.CADRE, moves(S.DRAFT, S.SUBMITTED, None, "submit"))

    assert chain_problems(_chain(step, flow="workflows.flows.NoSuchFlow")) == [
        "checked: no flow at 'workflows.flows.NoSuchFlow'"
    ]
