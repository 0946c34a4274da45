"""A start-up check of every chain against the code it names: a declaration whose rule,
flow, flow node or actor field does not exist fails ``manage.py check`` (and every command
that runs it) instead of a step at run time."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.utils.module_loading import import_string

from applications.chains import Chain, chains
from applications.models import Application
from approvals.policy import RULES


def chain_problems(chain: Chain) -> list[str]:
    """What a declaration names that does not exist (empty: everything does)."""
    problems: list[str] = []
    try:
        flow_class: Any = import_string(chain.flow)
    except ImportError:
        return [f"{chain.key}: no flow at '{chain.flow}'"]
    node_names = {node.name for node in flow_class.instance.nodes()}
    for step in chain.steps:
        for rule in step.rules:
            if rule not in RULES:
                problems.append(f"{chain.key}.{step.name}: no rule '{rule}' in policy.RULES")
        for move in step.moves:
            if move.node is not None and move.node not in node_names:
                problems.append(f"{chain.key}.{step.name}: flow has no node '{move.node}'")
        if step.records_actor:
            try:
                Application._meta.get_field(step.records_actor)
            except FieldDoesNotExist:
                problems.append(
                    f"{chain.key}.{step.name}: application has no field '{step.records_actor}'"
                )
    return problems


@checks.register()
def check_chains(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(problem, id="workflows.E001")
        for chain in chains()
        for problem in chain_problems(chain)
    ]
