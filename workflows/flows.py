"""The application chains as viewflow processes.

Flows sequence, services decide: each human node names who may take the task (a role on an
area, through guardian object permissions) and what comes next; the step itself is always
``approvals.services.transitions.application_transition``, whichever door it comes through. The flow
follows the services (``workflows.sync``), so the process and the application status
cannot diverge: a step that cannot be mirrored in the process rolls back.

Class path and node names are stored in the database: renaming one is a data migration.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock

from applications.chains import Chain
from applications.models import Application, Area
from applications.roles import level_of_code, prefix_of_code
from workflows.models import ApplicationProcess
from workflows.views import task_redirect

S = Application.Status


def _area(level_digits: int) -> Any:
    def get(process: ApplicationProcess) -> Area:
        return _by_key(process.application.area_code[:level_digits].ljust(12, "0"))

    return get


def _village(process: ApplicationProcess) -> Area:
    return _by_key(process.application.area_code)


def _by_key(code: str) -> Area:
    """The area a task's owner permission is on, by its code: a task stores only the area's
    content type and key (the code), so nothing is read, one query fewer for every step that
    opens a person's task. The code is the application's village or that village's township
    or county, whose areas exist wherever the village does; its level is the code's own."""
    return Area(code=code, level=level_of_code(code))


def _status_is(*statuses: str) -> Any:
    def check(activation: Any) -> bool:
        return bool(activation.process.application.status in statuses)

    return check


class ApplicationHead:
    """The head every application chain shares: filing and submission in the village, the
    public posting with its objections, the township's review and the county's approval,
    and the end by rejection. A chain's flow adds ``after_county`` (where an approval leads)
    and its tail. Not a flow itself: its nodes are copied into each flow that lists it
    first among its bases (viewflow collects nodes by attribute)."""

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
    rejected = flow.End().Annotation(title=_("Rejected"))

    def start_process(self, activation: Any, application: Application) -> ApplicationProcess:
        activation.process.application = application
        activation.process.artifact = application
        return activation.process  # type: ignore[no-any-return]


class SubsidyApplicationFlow(ApplicationHead, flow.Flow):
    process_class = ApplicationProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)
    process_title = _("Household industry subsidy application")

    after_county = (
        flow.Switch()
        .Annotation(title=_("County decision"))
        .Case(this.disburse, _status_is(S.APPROVED))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    # Completed by the bank's return file (a paid line of a payment round), or by the
    # county's rejection after a failed acceptance visit (先建后补).
    disburse = (
        flow.View(task_redirect)
        .Annotation(title=_("Payment (finance)"))
        .Permission("applications.act_finance_officer", obj=_area(6))
        .Next(this.after_payment)
    )
    after_payment = (
        flow.Switch()
        .Annotation(title=_("Payment outcome"))
        .Case(this.paid, _status_is(S.DISBURSED))
        .Default(this.rejected)
    )
    paid = flow.End().Annotation(title=_("Paid"))


class LoanApplicationFlow(ApplicationHead, flow.Flow):
    """The microloan's journey: the head, then the bank's credit decision and the
    drawdown (扶贫小额信贷)."""

    process_class = ApplicationProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)
    process_title = _("Poverty microloan application")

    after_county = (
        flow.Switch()
        .Annotation(title=_("County decision"))
        .Case(this.bank_review, _status_is(S.APPROVED))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    bank_review = (
        flow.View(task_redirect)
        .Annotation(title=_("Credit decision (bank)"))
        .Permission("applications.act_bank_officer", obj=_area(6))
        .Next(this.after_bank)
    )
    after_bank = (
        flow.Switch()
        .Annotation(title=_("Bank decision"))
        .Case(this.drawdown, _status_is(S.BANK_APPROVED))
        .Default(this.declined)
    )
    drawdown = (
        flow.View(task_redirect)
        .Annotation(title=_("Contract and drawdown (bank)"))
        .Permission("applications.act_bank_officer", obj=_area(6))
        .Next(this.lent)
    )
    declined = flow.End().Annotation(title=_("Declined by the bank"))
    lent = flow.End().Annotation(title=_("Loan drawn down"))


class HouseholdExitFlow(ApplicationHead, flow.Flow):
    """An exit from poverty (脱贫销号): the head, and the county's approval ends it with the
    household exited."""

    process_class = ApplicationProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)
    process_title = _("Exit from poverty")

    after_county = (
        flow.Switch()
        .Annotation(title=_("County decision"))
        .Case(this.exited, _status_is(S.CONCLUDED))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    exited = flow.End().Annotation(title=_("Household exited"))


class PovertyReturnFlow(ApplicationHead, flow.Flow):
    """A return to poverty (返贫挂号), identified within the monitoring deadline: the head,
    and the county's approval ends it with the household returned."""

    process_class = ApplicationProcess
    lock_impl = lock.SelectForUpdateLock(nowait=False, attempts=1)
    process_title = _("Return to poverty")

    after_county = (
        flow.Switch()
        .Annotation(title=_("County decision"))
        .Case(this.returned, _status_is(S.CONCLUDED))
        .Case(this.submit, _status_is(S.RETURNED))
        .Default(this.rejected)
    )
    returned = flow.End().Annotation(title=_("Household returned to poverty"))


@cache
def flow_of(chain: Chain) -> Any:
    """The viewflow class of a chain, from the dotted path its declaration names."""
    return import_string(chain.flow)


__all__ = [
    "ApplicationHead",
    "HouseholdExitFlow",
    "PovertyReturnFlow",
    "LoanApplicationFlow",
    "SubsidyApplicationFlow",
    "flow_of",
    "prefix_of_code",
]
