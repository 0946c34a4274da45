"""Keeping the process in step with the lifecycle, for every chain.

Registered as listeners of ``approvals.hooks``: they run inside the transaction of every
filing and every step, whichever door it came through (API, page, timer, command). If the
process cannot follow, an exception rolls the step back: the two never diverge. The node a
step completes comes from the chain's declaration (``Chain.node_of_step``); a move without a
node ends the process (a withdrawal); a node the system completes (``flow.Handle``, the
posting closed by the timer) is run, a person's node is assigned and started first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.utils import timezone
from viewflow.workflow import flow
from viewflow.workflow.models import Process, Task
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


# Write the tasks of a step's plain path directly (``_follow_directly``) rather than through
# viewflow's activations. Off only in the test that compares the two.
DIRECT = True


def process_follow(application: Application, name: str, from_state: str, actor: Actor) -> None:
    chain = chain_of(application)
    flow_class = flow_of(chain)
    if (name, from_state) not in chain.node_of_step:
        raise ProcessOutOfStep(f"application {application.pk}: '{name}' from '{from_state}'")
    node_name = chain.node_of_step[(name, from_state)]
    node = getattr(flow_class, node_name) if node_name else None
    if DIRECT and node is not None:
        path = _plain_path(node, application)
        if path is not None and _follow_directly(application, name, node, path, actor):
            return
    process = ApplicationProcess.objects.filter(application=application).first()
    if process is None:
        return  # imported before the process layer existed: nothing to follow
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


class _Reached:
    """What a flow condition reads of an activation: the process and its application."""

    def __init__(self, application: Application) -> None:
        self.process = _Process(application)


class _Process:
    def __init__(self, application: Application) -> None:
        self.application = application


def _plain_path(node: Any, application: Application) -> list[Any] | None:
    """The nodes the flow reaches after completing ``node`` for an application in its new
    status, when they are switches ending either in an end or in one task that waits (a
    person's node, or a node the system completes), created as viewflow creates it with
    nothing run on its creation. None for any other path (viewflow's activations take it)."""
    if _writes_more(node):
        return None
    path: list[Any] = []
    current = getattr(node, "_next", None)
    while isinstance(current, flow.Switch):
        path.append(current)
        reached = _Reached(application)
        chosen = None
        for target, condition in current._branches:
            if condition is None or condition(reached):
                chosen = target
                break
        current = chosen
    if current is None or _writes_more(current):
        return None
    if type(current) is flow.End:  # not an end that cancels or fails what is left
        return [*path, current]
    if isinstance(current, flow.View | flow.Handle) and (
        getattr(current, "_owner", None) is None
        and getattr(current, "_on_create", None) is None
        and not callable(getattr(current, "_owner_permission", None))
    ):
        return [*path, current]
    return None


def _writes_more(node: Any) -> bool:
    """Does viewflow write more for this node than a plain path does: data or a seed for
    the task that follows it, or boundary events to arm?"""
    return bool(
        getattr(node, "_task_data", None)
        or getattr(node, "_task_seed", None)
        or getattr(node, "_boundary_events", None)
    )


def _quiet_path(node: Any, application: Application) -> list[Any] | None:
    """``_plain_path`` when it ends the process (nobody is asked anything): the paths the
    bulk path writes itself."""
    path = _plain_path(node, application)
    return path if path is not None and isinstance(path[-1], flow.End) else None


def _follow_directly(
    application: Application, name: str, node: Any, path: list[Any], actor: Actor
) -> bool:
    """``process_follow`` along a plain path (``_plain_path``), writing what viewflow's
    activations write, in a handful of queries: the process row locked as viewflow's lock
    locks it, the node's task done by ``actor``, the switches passed done, then either the
    end done and the process finished or the next node's task waiting, with its owner
    permission on its area, each task linked to the one before. A node the system completes
    (``flow.Handle``: the posting) is run as viewflow runs it. False (nothing written) when
    the node's task is not one that may still be taken or is not the process's only open
    task, for viewflow's path to handle."""
    found = list(
        ApplicationProcess.objects.select_for_update(no_key=True, of=("self",))
        .filter(application=application)
        .order_by()
        .values_list("pk", flat=True)[:1]
    )
    if not found:
        return True  # imported before the process layer existed: nothing to follow
    process_id = found[0]
    # Every task not finished (viewflow's end counts those before it ends the process).
    unfinished = list(
        Task.objects.filter(process_id=process_id, finished__isnull=True)
        .order_by("pk")
        .values_list("pk", "flow_task", "status", "token")
    )
    task = next((t for t in unfinished if t[1] == node and t[2] in ACTIVE), None)
    if task is None:
        raise ProcessOutOfStep(
            f"application {application.pk}: no active '{node.name}' task for '{name}'"
        )
    task_id, _node, status, token = task
    # A person's task is taken over by whoever takes the step (viewflow's assign or
    # reassign); the system's runs as it stands (viewflow's run), its owner untouched.
    handled = isinstance(node, flow.Handle)
    person = actor if getattr(actor, "is_authenticated", False) else None
    takeable = (STATUS.NEW,) if handled else (STATUS.NEW, STATUS.ASSIGNED)
    if (
        status not in takeable
        or len(unfinished) > 1
        or (status == STATUS.ASSIGNED and person is None)  # viewflow keeps the holder
    ):
        return False  # started already, or a process in two places: viewflow's own path
    now = timezone.now()
    done: dict[str, Any] = {"status": STATUS.DONE, "started": now, "finished": now}
    if not handled:
        done["owner"] = person
    Task.objects.filter(pk=task_id).update(**done)
    created = []
    for passed in path:
        new = Task(
            process_id=process_id,
            flow_task=passed,
            flow_task_type=passed.task_type,
            token=token,
            created=now,
            data={},
        )
        if isinstance(passed, flow.Switch):
            new.status, new.finished = STATUS.DONE, now
        elif isinstance(passed, flow.End):
            new.status, new.started, new.finished = STATUS.DONE, now, now
        elif getattr(passed, "_owner_permission", None):
            new.owner_permission = passed._owner_permission
            obj_of = getattr(passed, "_owner_permission_obj", None)
            if obj_of:
                new.owner_permission_obj = obj_of(_Process(application))
        created.append(new)
    Task.objects.bulk_create(created)
    links, before = [], task_id
    for new in created:
        links.append(Task.previous.through(from_task_id=new.pk, to_task_id=before))
        before = new.pk
    Task.previous.through.objects.bulk_create(links)
    if isinstance(path[-1], flow.End):
        Process.objects.filter(pk=process_id).update(status=PROCESS.DONE, finished=now)
    return True


def processes_follow(
    applications: Sequence[Application], name: str, from_state: str, actor: Actor
) -> None:
    """``process_follow`` for many applications of one chain that took the step ``name``
    from ``from_state`` together (a return file's paid lines), in a few queries: the
    processes locked at once, each one's task of the step's node done by ``actor``, the
    switches and the end the flow passes then written as viewflow writes them, the processes
    finished. When the flow would go anywhere else (a person's node, a timer) each
    application follows one by one. viewflow's task signals are not sent (nothing here
    listens to them)."""
    if not applications:
        return
    chain = chain_of(applications[0])
    flow_class = flow_of(chain)
    node_name = chain.node_of_step.get((name, from_state))
    node = getattr(flow_class, node_name) if node_name else None
    path = (
        _quiet_path(node, applications[0])
        if node is not None and not isinstance(node, flow.Handle)
        else None
    )
    if path is None or any(chain_of(a) is not chain for a in applications):
        for application in applications:
            process_follow(application, name, from_state, actor)
        return
    processes = list(
        ApplicationProcess.objects.select_for_update(no_key=True)
        .filter(application__in=[a.pk for a in applications])
        .only("pk", "application_id")
        .order_by("pk")
    )
    by_process = {
        t.process_id: t
        for t in Task.objects.filter(process__in=[p.pk for p in processes], status__in=ACTIVE)
        .only("pk", "process_id", "flow_task", "token")
        .order_by("pk")
        if t.flow_task == node
    }
    for process in processes:
        if process.pk not in by_process:
            raise ProcessOutOfStep(
                f"application {process.application_id}: no active '{node_name}' task for '{name}'"
            )
    now = timezone.now()
    owner = actor if getattr(actor, "is_authenticated", False) else None
    Task.objects.filter(pk__in=[t.pk for t in by_process.values()]).update(
        status=STATUS.DONE, owner=owner, started=now, finished=now
    )
    # (process, task) of the tasks the next node's tasks follow.
    previous = [(t.process_id, t.pk) for t in by_process.values()]
    links = []
    for passed in path:
        created = _tasks_after(
            Task(
                flow_task=passed,
                flow_task_type=passed.task_type,
                status=STATUS.DONE,
                created=now,
                started=now if isinstance(passed, flow.End) else None,
                finished=now,
            ),
            [task for _process, task in previous],
        )
        follows = dict(previous)
        links += [
            Task.previous.through(from_task_id=task, to_task_id=follows[process])
            for process, task in created
        ]
        previous = created
    Task.previous.through.objects.bulk_create(links)
    Process.objects.filter(pk__in=[p.pk for p in processes]).update(
        status=PROCESS.DONE, finished=now
    )


def _tasks_after(template: Any, after: list[int]) -> list[tuple[int, int]]:
    """Insert, for each task of ``after``, a task like ``template`` in the same process and
    with the same token, in one ``INSERT … SELECT`` (the database copies the two columns;
    every other value is the template's, converted as ``save()`` would): (process, new
    task) of each."""
    meta = Task._meta
    connection = connections[router.db_for_write(Task)]
    quote = connection.ops.quote_name
    columns, values, params = [], [], []
    for field in meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(quote(field.column))
        if field.attname in ("process_id", "token"):
            values.append(f"old.{quote(field.column)}")
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    out: list[tuple[int, int]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(after), 1000):
            batch = after[start : start + 1000]
            marks = ", ".join(["%s"] * len(batch))
            # Only names from the model's metadata, quoted; every value is a parameter.
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM {table} AS old WHERE old.{pk} IN ({marks}) "
                f"RETURNING {quote(meta.get_field('process').column)}, {pk}",
                [*params, *batch],
            )
            out += [(int(process), int(task)) for process, task in cursor.fetchall()]
    if len(out) != len(after):
        raise ProcessOutOfStep(f"{len(after)} tasks to follow, {len(out)} written")
    return out


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
