"""Keeping the process in step with the lifecycle, for every chain.

Registered as listeners of ``approvals.hooks``: they run inside the transaction of every
filing and every step, whichever door it came through (API, page, timer, command). If the
process cannot follow, an exception rolls the step back: the two never diverge. The node a
step completes comes from the chain's declaration (``Chain.node_of_step``); a move without a
node ends the process (a withdrawal); a node the system completes (``flow.Handle``, the
posting closed by the timer) is run, a person's node is assigned and started first."""

from __future__ import annotations

from typing import Any

from viewflow.workflow import flow
from viewflow.workflow.status import PROCESS, STATUS

from applications.chains import chain_of
from applications.models import Application
from common import clock
from common.actors import Actor
from workflows.flows import flow_of
from workflows.models import ApplicationProcess
from workflows.selectors import ACTIVE


class ProcessOutOfStep(RuntimeError):
    pass


def process_start(application: Application, actor: Actor) -> None:
    flow_of(chain_of(application)).start.run(application=application)


def process_follow(application: Application, name: str, from_state: str, actor: Actor) -> None:
    process = ApplicationProcess.objects.filter(application=application).first()
    if process is None:
        return  # imported before the process layer existed: nothing to follow
    chain = chain_of(application)
    flow_class = flow_of(chain)
    if (name, from_state) not in chain.node_of_step:
        raise ProcessOutOfStep(f"application {application.pk}: '{name}' from '{from_state}'")
    node_name = chain.node_of_step[(name, from_state)]
    with flow_class.lock(process.pk):
        active = list(process.task_set.filter(status__in=ACTIVE))
        if node_name is None:
            _process_end(process, active)
            return
        node = getattr(flow_class, node_name)
        task = next((t for t in active if t.flow_task == node), None)
        if task is None:
            raise ProcessOutOfStep(
                f"application {application.pk}: no active '{node_name}' task for '{name}'"
            )
        activation = task.flow_task.activation_class(task)
        if isinstance(node, flow.Handle):
            activation.run(None)
        else:
            if task.status == STATUS.NEW:
                activation.assign(actor)
            elif task.owner_id != getattr(actor, "pk", None):
                activation.reassign(actor)
            activation.start(None)
        activation.execute()


def _process_end(process: ApplicationProcess, active: list[Any]) -> None:
    """The step leaves the chain (a withdrawal): its open tasks and the process are
    cancelled."""
    now = clock.now()
    for task in active:
        task.status = STATUS.CANCELED
        task.finished = now
        task.save()
    process.status = PROCESS.CANCELED
    process.finished = now
    process.save()
