"""Reads of the process layer: the inbox, the queue, the active step and the process diagram
of an application, and the check that the process and the application status agree.

Built on ``applications_visible_to`` (scope is data), joined to viewflow's tasks through
``Application.process`` (``ApplicationProcess``) and ``Process.task``: one SQL query per page,
never viewflow's ``user_queue`` (which loads every permission into memory)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from applications.chains import Chain, chain_of, chains
from applications.models import Application, Program, StatusChange
from applications.permissions import holders_of
from applications.roles import PERMISSION_ROLE, Role
from applications.selectors import (
    applications_visible_to,
    has_role_in,
    scope_prefixes,
)
from approvals import policy
from approvals.models import Attachment, Objection
from approvals.selectors import (
    attachments_visible_to,
    objections_visible_to,
    recused_from,
)
from common import clock
from common.actors import Actor
from workflows import diagram
from workflows.flows import flow_of
from workflows.models import ApplicationProcess

ACTIVE = (STATUS.NEW, STATUS.ASSIGNED, STATUS.STARTED)
HELD = (STATUS.ASSIGNED, STATUS.STARTED)


# Who may hand a task to a colleague of the same role.
REASSIGNING_ROLES = frozenset({Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER})


def _role_of_permission(permission: object) -> str | None:
    """The role an ``applications.act_<role>`` permission names; None for anything else."""
    role = PERMISSION_ROLE.get(str(permission or "").rpartition(".")[2])
    return str(role) if role is not None else None


def role_nodes(chain: Chain) -> dict[str, tuple[Any, ...]]:
    """The human nodes of the chain's flow by the role that takes them (from each node's
    ``.Permission("applications.act_<role>", ...)``)."""
    return _role_nodes(flow_of(chain))


@cache
def _role_nodes(flow_class: Any) -> dict[str, tuple[Any, ...]]:
    out: dict[str, list[Any]] = {}
    for node in flow_class.instance.nodes():
        role = _role_of_permission(getattr(node, "_owner_permission", None))
        if role is not None:
            out.setdefault(role, []).append(node)
    return {role: tuple(nodes) for role, nodes in out.items()}


def task_role(task: Any) -> str | None:
    """The role a task needs (from its ``owner_permission``, ``applications.act_<role>``)."""
    return _role_of_permission(task.owner_permission)


def holds_task_role(user: Actor, task: Any) -> bool:
    """The user holds the task's role on an area containing the task's area."""
    role = task_role(task)
    area = str(task.owner_permission_obj_pk or "")
    return role is not None and bool(area) and has_role_in(user, role, area)


def task_recused(user: Actor, task: Any) -> bool:
    """Is the user recused from the task's application (DOMAIN rule 4)?"""
    household_id = (
        Application.objects.filter(process__pk=task.process_id)
        .values_list("household_id", flat=True)
        .first()
    )
    return household_id is not None and recused_from(user, household_id=household_id)


def task_colleagues(actor: Actor, task: Any) -> list[Any]:
    """Whom the actor may hand the task to: the other holders of its role on its area, when
    the actor is a township reviewer or county approver holding it there."""
    role = task_role(task)
    if role not in REASSIGNING_ROLES or not holds_task_role(actor, task):
        return []
    codename = str(task.owner_permission).rpartition(".")[2]
    return [
        u
        for u in holders_of(codename, str(task.owner_permission_obj_pk))
        if u.pk not in (getattr(actor, "pk", None), task.owner_id) and not task_recused(u, task)
    ]


def queue_statuses(role: str) -> list[tuple[tuple[str, ...] | None, list[str]]]:
    """The statuses in which applications wait in a node the role takes, as (program
    kinds, statuses) pairs: one pair per distinct set of statuses among the chains, with
    None for the kinds when every chain agrees (no filter on the program is needed)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    every_kind: list[str] = []
    for chain in chains():
        every_kind.extend(chain.kinds)
        statuses = tuple(
            sorted(
                {
                    st
                    for node in role_nodes(chain).get(role, ())
                    for st in chain.statuses_of_node(node.name)
                }
            )
        )
        if statuses:
            groups.setdefault(statuses, []).extend(chain.kinds)
    if len(groups) == 1 and sorted(next(iter(groups.values()))) == sorted(every_kind):
        return [(None, list(next(iter(groups))))]
    return [(tuple(kinds), list(statuses)) for statuses, kinds in groups.items()]


def _with_task(qs: QuerySet[Application]) -> QuerySet[Application]:
    # The filter that joined the task (in the same .filter() call) is the join these
    # annotations reuse: one row per application and its active task.
    return qs.annotate(
        task_id=F("process__task__id"),
        task_created=F("process__task__created"),
        task_owner_id=F("process__task__owner_id"),
        task_status=F("process__task__status"),
        task_node=F("process__task__flow_task"),
    ).select_related("household", "program")


def tasks_inbox(user: Actor) -> QuerySet[Application]:
    """The applications whose active human task the user holds (claimed or started).
    Lean (no task columns): ``tasks_page`` adds them to the rows of one page."""
    if not getattr(user, "is_authenticated", False):
        return Application.objects.none()
    return applications_visible_to(user).filter(
        process__task__owner_id=getattr(user, "pk", None), process__task__status__in=HELD
    )


def objections_waiting(user: Actor, *, now: Any) -> list[Application]:
    """The applications of the user's townships (as township reviewer) whose posting window
    has ended while an objection is still open: no task holds them (the posting closes only
    once the objection is decided), so the queue lists them apart, oldest window first."""
    from applications.roles import Role
    from approvals.models import Objection

    return list(
        applications_visible_to(user, roles=[Role.TOWNSHIP_REVIEWER])
        .filter(
            status=Application.Status.POSTED,
            posting_ends_at__lte=now,
            objections__status=Objection.Status.OPEN,
        )
        .distinct()
        .select_related("household")
        .order_by("posting_ends_at", "pk")[:200]
    )


def tasks_queue(user: Actor) -> QuerySet[Application]:
    """The applications waiting in a node the user's roles may take, in the area of that
    role, whose task nobody holds. Lean, like ``tasks_inbox``.

    The status says where the process waits (``Chain.node_of_status``; ``process_divergences``
    checks it), so the queue is the status in scope minus the applications whose open task
    someone holds. Those are few, found from the task side through the index on task status
    and excluded as one set (a hashed ``NOT IN``): the database then walks an index in the
    page's order and stops after one page, and a capped count stays cheap, whatever the size
    of the queue."""
    held = ApplicationProcess.objects.filter(task__status__in=HELD).values("application_id")
    roles = sorted({role for chain in chains() for role in role_nodes(chain)})
    combined: QuerySet[Application] | None = None
    for role in roles:
        if not scope_prefixes(user, [role]):
            continue
        for kinds, in_node in queue_statuses(role):
            qs = applications_visible_to(user, roles=[role]).filter(status__in=in_node)
            if kinds is not None:
                qs = qs.filter(program__kind__in=kinds)
            combined = qs if combined is None else combined | qs
    if combined is None:
        return Application.objects.none()
    return combined.exclude(pk__in=held)


def tasks_page(ids: list[int]) -> list[Application]:
    """The applications of one page of a queue or inbox, in the order of ``ids``, each with
    its open task (``task_id``, ``task_created``, ``task_owner_id``, ``task_status``,
    ``task_node``), household and program. An application that has left the list between
    the two reads (decided by someone else a moment ago) is left out."""
    rows = _with_task(Application.objects.filter(pk__in=ids, process__task__status__in=ACTIVE))
    by_id = {a.pk: a for a in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def attachments_of(user: Actor, application: Application) -> list[Attachment]:
    """The files on the application's record, oldest first, as the user may see them
    (``attachments_visible_to``: none of an application outside their area)."""
    return list(
        attachments_visible_to(user).filter(application=application).order_by("uploaded_at", "pk")
    )


def objections_of(user: Actor, application: Application) -> list[Objection]:
    """The objections to the application, oldest first, as the user may see them."""
    return list(
        objections_visible_to(user).filter(application=application).order_by("created_at", "pk")
    )


def active_task(application: Application) -> Any:
    """The open task of the application's process (None once it is closed)."""
    return (
        Task.objects.filter(process__applicationprocess__application=application, status__in=ACTIVE)
        .select_related("owner")
        .order_by("-created", "-pk")
        .first()
    )


def process_divergences(queryset: QuerySet[Application] | None = None) -> QuerySet[Application]:
    """The applications whose process does not wait where their status says it must
    (``Chain.node_of_status``): the wrong node open, the right node missing, an open task on a
    closed application, or no process at all. Empty when the two agree."""
    qs = Application.objects.all() if queryset is None else queryset
    open_tasks = Task.objects.filter(process_id=OuterRef("process__pk"), status__in=ACTIVE)
    diverged: Any = Q(process__isnull=True)
    for chain in chains():
        flow_class = flow_of(chain)
        in_chain = Q(program__kind__in=chain.kinds)
        for status, node_name in chain.node_of_status.items():
            if node_name is None:
                diverged |= in_chain & Q(status=status) & Exists(open_tasks)
            else:
                node = getattr(flow_class, node_name)
                diverged |= (
                    in_chain
                    & Q(status=status)
                    & (
                        ~Exists(open_tasks.filter(flow_task=node))
                        | Exists(open_tasks.exclude(flow_task=node))
                    )
                )
    return qs.filter(diverged)


# The state a node shows, by the status of its latest task.
STATE_OF_TASK = {
    **dict.fromkeys(ACTIVE, diagram.CURRENT),
    STATUS.DONE: diagram.DONE,
    STATUS.CANCELED: diagram.STOPPED,
}


def process_diagram(application: Application) -> diagram.Diagram:
    """The flow's diagram for this application: each node current (an open task waits
    there), done, stopped (withdrawn) or not reached yet, by the latest task of that node in
    the process history; a node done in an earlier round (before a return) stays done.
    One query, however long the history; the layout itself is cached per flow class."""
    latest: dict[str, str] = {}
    tasks = (
        Task.objects.filter(process__applicationprocess__application=application)
        .order_by("created", "pk")
        .values_list("flow_task", "status")
    )
    for node, status in tasks:
        if node is not None:
            latest[node.name] = status
    states = {
        name: STATE_OF_TASK[status] for name, status in latest.items() if status in STATE_OF_TASK
    }
    return diagram.diagram_of(flow_of(chain_of(application)), states)


def status_context(app: Application) -> dict[str, Any]:
    """An exit's or a return's facts for its pages: the proposal, whether it may still be
    corrected, and a return's deadline (nothing for an application of another chain)."""
    if app.program.kind not in (Program.Kind.EXIT, Program.Kind.RETURN):
        return {}
    change = StatusChange.objects.filter(application=app).first()
    return {
        "change": change,
        "facts_editable": change is not None and policy.is_editable(app),
        "deadline": policy.monitoring_deadline(change, clock.today()),
    }
