"""Writes on process tasks: claiming a task from the queue, releasing it, handing it to a
colleague. The steps themselves (approve, return, ...) are ``approvals.services``; the
process follows them (``workflows.sync``).

Each function runs in one transaction with the process locked (viewflow's
``SelectForUpdateLock``), moves the task through viewflow's own activation methods, and
writes its audit entry in the same transaction; a refusal changes nothing, is recorded
(``audit_refusal``) and raises ``NotFound``, ``Forbidden`` or ``Refused``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User as Official
from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext as _
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from applications.models import Application, Area, Household
from applications.selectors import applications_visible_to
from approvals import policy
from approvals.services.access import access_refused
from audit.services import audit_record, audit_refusal
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, NotFound, Refused, ServiceError
from workflows.models import Tally
from workflows.selectors import (
    ACTIVE,
    REASSIGNING_ROLES,
    holds_task_role,
    task_recused,
    task_role,
)


def _task_and_application(actor: Actor, task_id: int, action: str) -> tuple[Any, int, str]:
    """The task (if it is a human task of an application the actor may see), its
    application id and area code; ``NotFound`` (recorded when it exists) otherwise."""
    row = (
        Task.objects.filter(pk=task_id, process__applicationprocess__isnull=False)
        .values_list(
            "process__applicationprocess__application_id",
            "process__applicationprocess__application__area_code",
        )
        .first()
    )
    if row is None:
        raise NotFound(_("No such task in your area."))
    application_id, area_code = row
    if not applications_visible_to(actor).filter(pk=application_id).exists():
        access_refused(actor=actor, application_id=application_id, action=action)
        raise NotFound(_("No such task in your area."))
    task = Task.objects.get(pk=task_id)
    return task, int(application_id), str(area_code)


def _run(
    *,
    actor: Actor,
    task_id: int,
    action: str,
    change: Any,
) -> Any:
    """Lock the process, re-read the task, let ``change(task, activation)`` check and move
    it (it returns the audit ``changes``), record, commit. Refusals are recorded apart."""
    task, application_id, area_code = _task_and_application(actor, task_id, action)
    from_state = str(task.status)
    try:
        with transaction.atomic(), task.flow_task.flow_class.lock(task.process_id):
            task = Task.objects.get(pk=task_id)
            from_state = str(task.status)
            activation = task.flow_task.activation_class(task)
            changes = change(task, activation)
            task.refresh_from_db()
            audit_record(
                actor=actor,
                action=action,
                object_type="application",
                object_id=application_id,
                area_code=area_code,
                from_state=from_state,
                to_state=str(task.status),
                changes={"task": [None, task.pk], "node": [None, task.flow_task.name], **changes},
            )
            return task
    except ServiceError as error:
        audit_refusal(
            actor=actor,
            action=action,
            object_type="application",
            object_id=application_id,
            area_code=area_code,
            from_state=from_state,
            reason=error.message,
        )
        raise


def _check_human_active(task: Any) -> None:
    if task_role(task) is None:
        raise Refused(_("This step is not taken by a person."), code=Code.NOT_HUMAN)
    if task.status not in ACTIVE:
        raise Refused(_("This task is already finished."), code=Code.TASK_FINISHED)


def task_claim(*, actor: Actor, task_id: int) -> Any:
    """Take a task from the queue: it becomes the actor's (viewflow ``assign``).

    Guarantees: the application is in the actor's area (else ``NotFound``); the actor holds
    the task's role on its area (else ``Forbidden``); the task is open and nobody holds it
    (else ``Refused``: of two people claiming at once, exactly one gets it); audited."""

    def claim(task: Any, activation: Any) -> dict[str, Any]:
        _check_human_active(task)
        if not holds_task_role(actor, task):
            raise Forbidden(_("Your role may not take this task."), code=Code.ROLE)
        if task_recused(actor, task):
            refusal = policy.recusal_refusal()
            raise Forbidden(refusal.message, code=refusal.code)
        if task.owner_id is not None or task.status != STATUS.NEW:
            raise Refused(_("Someone has already taken this task."), code=Code.TASK_TAKEN)
        activation.assign(actor)
        return {"owner": [None, person(actor).get_username()]}

    return _run(actor=actor, task_id=task_id, action="task.claim", change=claim)


def task_release(*, actor: Actor, task_id: int) -> Any:
    """Give a claimed task back to the queue (viewflow ``unassign``). Only its holder
    releases it. Audited."""

    def release(task: Any, activation: Any) -> dict[str, Any]:
        _check_human_active(task)
        if task.owner_id != getattr(actor, "pk", None):
            raise Refused(_("Only whoever holds a task releases it."), code=Code.NOT_OWNER)
        if task.status != STATUS.ASSIGNED:
            raise Refused(
                _("This task is in progress and cannot be released."), code=Code.TASK_STARTED
            )
        activation.unassign()
        return {"owner": [person(actor).get_username(), None]}

    return _run(actor=actor, task_id=task_id, action="task.release", change=release)


def task_reassign(*, actor: Actor, task_id: int, to_user: Official | int) -> Any:
    """Hand a task to another holder of the same role on the task's area (viewflow
    ``reassign``, or ``assign`` when nobody holds it yet). Township reviewers and county
    approvers do this within their area. Audited."""
    target = (
        to_user if isinstance(to_user, Official) else Official.objects.filter(pk=to_user).first()
    )

    def reassign(task: Any, activation: Any) -> dict[str, Any]:
        _check_human_active(task)
        role = task_role(task)
        if role not in REASSIGNING_ROLES or not holds_task_role(actor, task):
            raise Forbidden(_("Your role may not hand this task to someone else."), code=Code.ROLE)
        if target is None or not target.is_active or not holds_task_role(target, task):
            raise Refused(
                _("The colleague must hold the same role in this area."), code=Code.NOT_COLLEAGUE
            )
        if task_recused(target, task):
            raise Refused(
                _("The colleague is recused from this application (conflict of interest)."),
                code=Code.RECUSED,
            )
        if task.status == STATUS.STARTED:
            raise Refused(
                _("This task is in progress and cannot be handed over."), code=Code.TASK_STARTED
            )
        before = task.owner.get_username() if task.owner_id else None
        if task.owner_id == target.pk:
            raise Refused(_("This task is already theirs."), code=Code.SAME_OWNER)
        if task.status == STATUS.NEW:
            activation.assign(target)
        else:
            activation.reassign(target)
        return {"owner": [before, target.get_username()]}

    return _run(actor=actor, task_id=task_id, action="task.reassign", change=reassign)


__all__ = ["task_claim", "task_reassign", "task_release"]


# --- the dashboard's tallies ------------------------------------------------------------------


# The key of the advisory lock that keeps two counts of one county apart (with the county's
# code as the second key).
TALLY_LOCK = 160_611


def _tally_lock(county: str) -> None:
    """Two counts of one county at once would each delete the old rows and both insert new
    ones. On PostgreSQL a transaction-level advisory lock of its own keeps them apart
    (the county's area row is locked by a settlement or a scan for longer: the timers must
    not wait on those); SQLite runs one writing transaction at a time anyway."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [TALLY_LOCK, int(county)])


def tallies_refresh(*, counties: Iterable[str] | None = None) -> int:
    """Work out again the dashboard's tallies (``Tally``) of these counties (6-digit codes;
    all by default), each county in one transaction: its old rows replaced by the counts of
    now, so a reader sees one county's figures all of one moment. Two refreshes of a county
    never interleave (``_tally_lock``). Returns how many counties were refreshed."""
    if counties is None:
        counties = [
            code[:6]
            for code in Area.objects.filter(level=Area.Level.COUNTY).values_list("code", flat=True)
        ]
    done = 0
    for county in counties:
        with transaction.atomic():
            if not Area.objects.filter(code=county + "000000").exists():
                continue
            _tally_lock(county)
            now = clock.now()
            Tally.objects.filter(county_code=county).delete()
            apps = Application.objects.filter(area_code__startswith=county).order_by()
            rows = [
                Tally(
                    county_code=county,
                    kind=Tally.Kind.APPLICATIONS,
                    area_code=area,
                    program_id=program,
                    key=status,
                    count=n,
                    amount=amount or 0,
                    refreshed_at=now,
                )
                for area, program, status, n, amount in apps.values_list(
                    "area_code", "program_id", "status"
                )
                .annotate(n=Count("pk"), total=Sum("amount"))
                .values_list("area_code", "program_id", "status", "n", "total")
            ]
            # A household is in one village: its distinct count per village adds up.
            rows += [
                Tally(
                    county_code=county,
                    kind=Tally.Kind.APPLIED,
                    area_code=area,
                    program_id=program,
                    count=n,
                    refreshed_at=now,
                )
                for area, program, n in apps.exclude(status=Application.Status.WITHDRAWN)
                .values_list("area_code", "program_id")
                .annotate(n=Count("household_id", distinct=True))
                .values_list("area_code", "program_id", "n")
            ]
            rows += [
                Tally(
                    county_code=county,
                    kind=Tally.Kind.HOUSEHOLDS,
                    area_code=area,
                    key=f"{kind}:{status}",
                    count=n,
                    refreshed_at=now,
                )
                for area, kind, status, n in Household.objects.filter(area_code__startswith=county)
                .order_by()
                .values_list("area_code", "household_type", "status")
                .annotate(n=Count("pk"))
                .values_list("area_code", "household_type", "status", "n")
            ]
            # A county with nothing yet still has its moment of refresh.
            rows.append(
                Tally(
                    county_code=county, kind=Tally.Kind.HOUSEHOLDS, area_code="", refreshed_at=now
                )
            )
            Tally.objects.bulk_create(rows, batch_size=2000)
        done += 1
    return done
