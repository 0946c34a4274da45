"""The subsidy chain as a viewflow process.

Flows sequence, services decide: each human node names who may take the task (a role on an
area, through guardian object permissions) and what comes next; the step itself is always
``approvals.services.application_transition``, whichever door it comes through. The flow
follows the services (``workflows.sync``), so the process and the application status
cannot diverge: a step that cannot be mirrored in the process rolls back.

Class path and node names are stored in the database: renaming one is a data migration.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock

from applications.models import Application, Area
from applications.roles import prefix_of_code
from workflows.models import SubsidyProcess
from workflows.views import task_redirect

S = Application.Status


def _area(level_digits: int) -> Any:
    def get(process: SubsidyProcess) -> Area:
        code = process.application.area_code
        return Area.objects.get(code=code[:level_digits].ljust(12, "0"))

    return get


def _village(process: SubsidyProcess) -> Area:
    return Area.objects.get(code=process.application.area_code)


def _status_is(*statuses: str) -> Any:
    def check(activation: Any) -> bool:
        return bool(activation.process.application.status in statuses)

    return check


class SubsidyApplicationFlow(flow.Flow):
    process_class = SubsidyProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)
    process_title = _("Household industry subsidy application")

    # Titles name the nodes on the application page's process diagram (workflows.diagram).
    start = (
        flow.StartHandle(this.start_process)
        .Annotation(title=_("Application created"))
        .Next(this.submit)
    )

    submit = (
        flow.View(task_redirect)
        .Annotation(title=_("Filing and submission (village)"))
        .Permission("applications.act_village_cadre", obj=_village)
        .Next(this.start_posting)
    )
    start_posting = (
        flow.View(task_redirect)
        .Annotation(title=_("Start of public posting (village)"))
        .Permission("applications.act_village_cadre", obj=_village)
        .Next(this.posting)
    )
    # Closed by the posting timer (process_timers); a rejection through an upheld
    # objection also completes it.
    posting = (
        flow.Handle().Annotation(title=_("Public posting and objections")).Next(this.after_posting)
    )
    after_posting = (
        flow.Switch()
        .Annotation(title=_("Posting outcome"))
        .Case(this.township_review, _status_is(S.TOWNSHIP_REVIEW))
        .Default(this.rejected)
    )
    township_review = (
        flow.View(task_redirect)
        .Annotation(title=_("Township review"))
        .Permission("applications.act_township_reviewer", obj=_area(9))
        .Next(this.after_township)
    )
    after_township = (
        flow.Switch()
        .Annotation(title=_("Township decision"))
        .Case(this.county_review, _status_is(S.COUNTY_REVIEW))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    county_review = (
        flow.View(task_redirect)
        .Annotation(title=_("County approval"))
        .Permission("applications.act_county_approver", obj=_area(6))
        .Next(this.after_county)
    )
    after_county = (
        flow.Switch()
        .Annotation(title=_("County decision"))
        .Case(this.disburse, _status_is(S.APPROVED))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    disburse = (
        flow.View(task_redirect)
        .Annotation(title=_("Payment (finance)"))
        .Permission("applications.act_finance_officer", obj=_area(6))
        .Next(this.paid)
    )
    paid = flow.End().Annotation(title=_("Paid"))
    rejected = flow.End().Annotation(title=_("Rejected"))

    def start_process(self, activation: Any, application: Application) -> SubsidyProcess:
        activation.process.application = application
        activation.process.artifact = application
        return activation.process  # type: ignore[no-any-return]


# The process node that a step of the lifecycle completes, by the state it leaves.
NODE_OF_STEP: dict[tuple[str, str], str] = {
    ("submit", S.DRAFT): "submit",
    ("submit", S.RETURNED): "submit",
    ("start_posting", S.SUBMITTED): "start_posting",
    ("close_posting", S.POSTED): "posting",
    ("reject", S.POSTED): "posting",
    ("township_approve", S.TOWNSHIP_REVIEW): "township_review",
    ("return", S.TOWNSHIP_REVIEW): "township_review",
    ("reject", S.TOWNSHIP_REVIEW): "township_review",
    ("county_approve", S.COUNTY_REVIEW): "county_review",
    ("return", S.COUNTY_REVIEW): "county_review",
    ("reject", S.COUNTY_REVIEW): "county_review",
    ("disburse", S.APPROVED): "disburse",
}

# The node an application waits in, by its status (what the process must show).
NODE_OF_STATUS: dict[str, str | None] = {
    S.DRAFT: "submit",
    S.RETURNED: "submit",
    S.SUBMITTED: "start_posting",
    S.POSTED: "posting",
    S.TOWNSHIP_REVIEW: "township_review",
    S.COUNTY_REVIEW: "county_review",
    S.APPROVED: "disburse",
    S.DISBURSED: None,
    S.REJECTED: None,
    S.WITHDRAWN: None,
}

__all__ = ["NODE_OF_STATUS", "NODE_OF_STEP", "SubsidyApplicationFlow", "prefix_of_code"]
