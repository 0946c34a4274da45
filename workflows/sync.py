"""Keeping the process in step with the lifecycle.

Registered as listeners of ``approvals.hooks``: they run inside the transaction of every
filing and every step, whichever door it came through (API, page, timer, command). If the
process cannot follow, an exception rolls the step back: the two never diverge."""

from __future__ import annotations

from typing import Any

from viewflow.workflow.status import PROCESS, STATUS

from applications.models import Application
from common import clock
from workflows.flows import NODE_OF_STEP, SubsidyApplicationFlow
from workflows.models import SubsidyProcess
from workflows.selectors import ACTIVE


class ProcessOutOfStep(RuntimeError):
    pass


def process_start(application: Application, actor: Any) -> None:
    SubsidyApplicationFlow.start.run(application=application)


def process_follow(application: Application, name: str, from_state: str, actor: Any) -> None:
    process = SubsidyProcess.objects.filter(application=application).first()
    if process is None:
        return  # imported before the process layer existed: nothing to follow
    with SubsidyApplicationFlow.lock(process.pk):
        active = list(process.task_set.filter(status__in=ACTIVE))
        if name == "withdraw":
            now = clock.now()
            for task in active:
                task.status = STATUS.CANCELED
                task.finished = now
                task.save()
            process.status = PROCESS.CANCELED
            process.finished = now
            process.save()
            return
        node_name = NODE_OF_STEP.get((name, from_state))
        node = getattr(SubsidyApplicationFlow, node_name) if node_name else None
        task = next((t for t in active if t.flow_task == node), None)
        if task is None:
            raise ProcessOutOfStep(
                f"application {application.pk}: no active '{node_name}' task for '{name}'"
            )
        activation = task.flow_task.activation_class(task)
        if node_name == "posting":
            activation.run(None)
        else:
            if task.status == STATUS.NEW:
                activation.assign(actor)
            elif task.owner_id != getattr(actor, "pk", None):
                activation.reassign(actor)
            activation.start(None)
        activation.execute()
