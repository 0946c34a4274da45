"""Pure rules of the chain: numbers and predicates, no writes. Each refusal is a sentence the
user can act on, in their language."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from applications.chains import chain_of
from applications.models import (
    Application,
    Household,
    Program,
    ProgramItem,
    ProgramVersion,
    StatusChange,
)
from common.actors import Actor
from common.errors import Code, Refusal
from common.money import to_fen

S = Application.Status
ELIGIBLE_HOUSEHOLD_STATUSES = (Household.Status.REGISTERED, Household.Status.RETURNED)
# The statuses in which the village cadre may still change an application.
EDITABLE_STATUSES = (S.DRAFT, S.RETURNED)


def items_amount(lines: Iterable[tuple[ProgramItem, int]]) -> Decimal:
    """The amount an application asks for: the sum of quantity × unit amount."""
    total = sum((item.unit_amount * qty for item, qty in lines), Decimal("0"))
    return to_fen(total)


def subsidy_cap(version: ProgramVersion, already_received: Decimal) -> Decimal:
    """What the household may still receive from this program under these parameters."""
    return to_fen(max(version.household_cap - already_received, Decimal("0")))


# Which household statuses a proposal of each status chain starts from: an exit from a
# registered or returned household, a return from an exited one.
STATUS_CHAIN_FROM: dict[str, tuple[str, ...]] = {
    Program.Kind.EXIT: (Household.Status.REGISTERED, Household.Status.RETURNED),
    Program.Kind.RETURN: (Household.Status.EXITED,),
}


def household_eligible(household: Household, version: ProgramVersion | None = None) -> bool:
    """May the household apply to the version's program? A registered or returned
    household may; an exited one too where the program keeps its policies for exited
    households (脱贫不脱政策, ``exited_eligible``)."""
    if household.status in ELIGIBLE_HOUSEHOLD_STATUSES:
        return True
    return bool(
        version is not None
        and version.exited_eligible
        and household.status == Household.Status.EXITED
    )


def household_status_fits(household: Household, kind: str) -> bool:
    """Does the household's status allow a proposal of this status chain (or, for a
    program of money, an application at all)?"""
    allowed = STATUS_CHAIN_FROM.get(kind)
    return household.status in allowed if allowed is not None else True


def status_fits_refusal(household: Household, kind: str) -> Refusal | None:
    if household_status_fits(household, kind):
        return None
    if kind == Program.Kind.EXIT:
        message = _("Only a registered or returned household can exit poverty: this one is %(s)s.")
    else:
        message = _("Only an exited household can return to poverty: this one is %(s)s.")
    return Refusal(Code.HOUSEHOLD_INELIGIBLE, message % {"s": household.get_status_display()})


def is_editable(application: Application) -> bool:
    """May the application's items and appraisal still be changed?"""
    return application.status in EDITABLE_STATUSES


def posting_days_left(posting_ends_at: datetime | None, *, now: datetime) -> int | None:
    """Whole days, rounded up and never below zero, until a posting window closes; None
    without one."""
    if posting_ends_at is None:
        return None
    return max(0, math.ceil((posting_ends_at - now).total_seconds() / 86400))


def objection_refusal(application: Application) -> Refusal | None:
    """Why an objection may not be raised against the application now, or None (objections
    are heard during the public posting)."""
    if application.status != S.POSTED:
        return Refusal(
            Code.OBJECTION_WINDOW, _("Objections are raised while the application is posted.")
        )
    return None


def _same(user: Actor, user_id: int | None) -> bool:
    return user is not None and user_id is not None and user.pk == user_id


def is_filer(user: Actor, application: Application) -> bool:
    return _same(user, application.created_by_id) or _same(user, application.submitted_by_id)


# --- conflict of interest (DOMAIN rule 4) ----------------------------------------------------


def is_recused(user: Actor, *, household_hashes: Set[str], declared_hashes: Set[str]) -> bool:
    """Is the user recused from an application? Yes when its household includes the user
    or a close relative the user declared: ``household_hashes`` are the ID hashes of the
    household's members, ``declared_hashes`` the user's own and their close relatives'
    (``applications.selectors.household_hashes`` and ``recusing_hashes``). The system and
    the public are never recused."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return not household_hashes.isdisjoint(declared_hashes)


def recusal_refusal() -> Refusal:
    return Refusal(
        Code.RECUSED,
        _(
            "You are recused from this application (conflict of interest): its household "
            "includes you or a close relative you declared. Another official of the area "
            "handles it."
        ),
    )


# --- payment to the head's bank card (DOMAIN rule 5) --------------------------------------


@dataclass(frozen=True)
class CardFacts:
    """What the payment rules need to know of the bank card an application is paid to."""

    holder_is_head: bool  # the name on the card is the household head's
    shared: bool  # the card is also registered to another household
    changed_at: datetime | None  # when the household last changed its card
    hold_days: int  # the program's hold after a change (ProgramVersion.card_change_hold_days)
    checked_by_id: int | None  # who recorded a check of this card for this application


def payment_holds(card: CardFacts, *, now: datetime) -> list[str]:
    """Why a payment to this card waits for a card check (empty: it does not)."""
    holds: list[str] = []
    if card.shared:
        holds.append(_("the bank card is also registered to another household"))
    if card.changed_at is not None and now - card.changed_at < timedelta(days=card.hold_days):
        holds.append(
            _("the bank card was changed on %(date)s, less than %(days)s days ago")
            % {
                "date": timezone.localtime(card.changed_at).date().isoformat(),
                "days": card.hold_days,
            }
        )
    return holds


def card_refusal(card: CardFacts, user: Actor, *, now: datetime) -> Refusal | None:
    """Why the payment may not go to this card now, or None."""
    if not card.holder_is_head:
        return Refusal(
            Code.CARD_NOT_HEAD,
            _(
                "The bank card on record is not in the head of household's name; subsidies "
                "are paid only to the head's card."
            ),
        )
    holds = payment_holds(card, now=now)
    if not holds:
        return None
    if card.checked_by_id is None:
        return Refusal(
            Code.CARD_HELD,
            _(
                "The payment is held: %(why)s. A county officer other than the payer must "
                "check the card and record the check first."
            )
            % {"why": "; ".join(holds)},
        )
    if _same(user, card.checked_by_id):
        return Refusal(
            Code.CARD_CHECKER_PAYS,
            _("You recorded the card check for this payment; another officer pays it."),
        )
    return None


def card_check_refusal(
    application: Application, card: CardFacts, *, now: datetime
) -> Refusal | None:
    """Why a check of the card may not be recorded for the application now, or None: it is
    for an approved application whose payment is held and whose card is not checked yet."""
    if application.status != S.APPROVED:
        return Refusal(
            Code.WRONG_STATE,
            _("A card check is recorded for an approved application awaiting payment."),
        )
    if not payment_holds(card, now=now):
        return Refusal(Code.CARD_NOT_HELD, _("The payment is not held: there is nothing to check."))
    if card.checked_by_id is not None:
        return Refusal(Code.CARD_CHECKED, _("The card check is already recorded."))
    return None


@dataclass(frozen=True)
class StepContext:
    """What the rules of a step look at: the application, who acts, and the facts the
    service read for it."""

    name: str
    application: Application
    user: Actor
    open_objections: int
    now: datetime
    via_objection: bool = False
    # The step is the county's decision on a failed acceptance visit (先建后补).
    via_acceptance: bool = False
    signed_agreement: bool = False  # the household's signed agreement is on the record
    card: CardFacts | None = None  # the bank card a paying step pays to
    via_round: bool = False  # the step is weighed for a payment round, not taken by a person
    # The step is taken at the bank's loan desk (``loans.services.lending``), which checked
    # the terms it carries (the amount, rate and term granted; the drawdown's date and sum).
    via_loan_desk: bool = False
    loan_contract: bool = False  # the signed loan contract is on the record
    # An exit's or a return's facts, and whether the head's signed confirmation of an exit
    # is on the record.
    status_change: StatusChange | None = None
    exit_confirmation: bool = False


Rule = Callable[[StepContext], Refusal | None]


def _household_eligible(c: StepContext) -> Refusal | None:
    if not household_eligible(c.application.household, c.application.program_version):
        return Refusal(
            Code.HOUSEHOLD_INELIGIBLE,
            _("Only registered or returned-to-poverty households may apply."),
        )
    return None


def _appraisal_recorded(c: StepContext) -> Refusal | None:
    if c.application.appraisal_date is None or c.application.appraisal_attendees is None:
        return Refusal(
            Code.APPRAISAL_MISSING, _("Record the village democratic appraisal before submitting.")
        )
    return None


def _has_items(c: StepContext) -> Refusal | None:
    if c.application.amount <= 0:
        return Refusal(Code.NO_ITEMS, _("The application has no items."))
    return None


def _posting_ended(c: StepContext) -> Refusal | None:
    ends = c.application.posting_ends_at
    if ends is None or c.now < ends:
        return Refusal(Code.POSTING_OPEN, _("The posting period has not ended yet."))
    return None


def _no_open_objection(c: StepContext) -> Refusal | None:
    if c.open_objections:
        return Refusal(
            Code.OBJECTION_OPEN, _("An objection raised during posting is not resolved yet.")
        )
    return None


def _objection_only_in_posting(c: StepContext) -> Refusal | None:
    if c.application.status == S.POSTED and not c.via_objection:
        return Refusal(
            Code.OBJECTION_ONLY,
            _("During posting an application is rejected only by upholding an objection."),
        )
    return None


def _acceptance_only_when_approved(c: StepContext) -> Refusal | None:
    if c.application.status == S.APPROVED and not c.via_acceptance:
        return Refusal(
            Code.ACCEPTANCE_ONLY,
            _(
                "An approved application is rejected only after a failed acceptance visit of "
                "its work."
            ),
        )
    return None


def _filer_not_approver(c: StepContext) -> Refusal | None:
    if is_filer(c.user, c.application):
        return Refusal(
            Code.SEPARATION_OF_DUTIES,
            _("Whoever filed or submitted an application may not approve it."),
        )
    return None


def _different_approvers(c: StepContext) -> Refusal | None:
    if _same(c.user, c.application.township_approved_by_id):
        return Refusal(
            Code.SEPARATION_OF_DUTIES,
            _("The township and county approvals must be made by different people."),
        )
    return None


def _filer_not_decider(c: StepContext) -> Refusal | None:
    # A rejection through an upheld objection is the objection's outcome, not a decision
    # of whoever records it.
    if not c.via_objection and is_filer(c.user, c.application):
        return Refusal(
            Code.SEPARATION_OF_DUTIES,
            _("Whoever filed or submitted an application may not decide on it."),
        )
    return None


def _payer_independent(c: StepContext) -> Refusal | None:
    app = c.application
    if (
        is_filer(c.user, app)
        or _same(c.user, app.township_approved_by_id)
        or _same(c.user, app.county_approved_by_id)
    ):
        return Refusal(
            Code.SEPARATION_OF_DUTIES, _("Whoever filed or approved an application may not pay it.")
        )
    return None


def _signed_agreement(c: StepContext) -> Refusal | None:
    if not c.signed_agreement:
        return Refusal(
            Code.SIGNED_AGREEMENT_MISSING, _("The signed agreement has not been uploaded.")
        )
    return None


def _through_round(c: StepContext) -> Refusal | None:
    # A payment is the bank's confirmation of a line of an approved payment round: nobody
    # pays by pressing a button.
    if not c.via_round:
        return Refusal(
            Code.PAY_THROUGH_ROUND,
            _(
                "Payments are made through a payment round: the bank's return file confirms "
                "each one."
            ),
        )
    return None


def _card_payable(c: StepContext) -> Refusal | None:
    return card_refusal(c.card, c.user, now=c.now) if c.card is not None else None


def _loan_requested(c: StepContext) -> Refusal | None:
    if c.application.amount <= 0:
        return Refusal(Code.LOAN_REQUEST_MISSING, _("The application asks for no loan."))
    return None


def _through_loan_desk(c: StepContext) -> Refusal | None:
    if not c.via_loan_desk:
        return Refusal(
            Code.LOAN_DESK,
            _(
                "The bank's decision and the drawdown are made on the loan desk, with their "
                "terms: the amount, rate and term granted, or the drawdown's date and sum."
            ),
        )
    return None


def _loan_contract(c: StepContext) -> Refusal | None:
    if not c.loan_contract:
        return Refusal(
            Code.LOAN_CONTRACT_MISSING, _("The signed loan contract has not been uploaded.")
        )
    return None


@dataclass(frozen=True)
class Deadline:
    """Where a return's identification stands against its deadline: whole days left, or
    overdue (one of the two is 0)."""

    left: int
    overdue: int


def monitoring_deadline(change: StatusChange | None, today: date) -> Deadline | None:
    """The days left to identify a return to poverty (due ``monitoring_days`` after the
    risk signal), or how many it is overdue; None once identified (the household's status
    changed) or for a proposal without a deadline."""
    if change is None or change.due_on is None or change.effective_on is not None:
        return None
    days = (change.due_on - today).days
    return Deadline(left=max(days, 0), overdue=max(-days, 0))


def _household_status_fits(c: StepContext) -> Refusal | None:
    return status_fits_refusal(c.application.household, c.application.program.kind)


def exit_facts_refusal(change: StatusChange | None, version: ProgramVersion) -> Refusal | None:
    """Why an exit's facts do not make the case (None when they do): the per-capita income
    of a year and the visit's date are recorded, and the income reaches the program's
    line."""
    if (
        change is None
        or change.income_per_capita is None
        or change.income_year is None
        or change.visit_date is None
    ):
        return Refusal(
            Code.EXIT_FACTS_MISSING,
            _("Record the household's per-capita income for the year and the visit's date."),
        )
    if version.income_line is not None and change.income_per_capita < version.income_line:
        return Refusal(
            Code.INCOME_BELOW_LINE,
            _(
                "A per-capita income of %(income)s yuan is below the exit line of %(line)s "
                "yuan: the household cannot exit yet."
            )
            % {"income": change.income_per_capita, "line": version.income_line},
        )
    return None


def _exit_facts(c: StepContext) -> Refusal | None:
    return exit_facts_refusal(c.status_change, c.application.program_version)


def _exit_confirmation(c: StepContext) -> Refusal | None:
    if not c.exit_confirmation:
        return Refusal(
            Code.EXIT_CONFIRMATION_MISSING,
            _("Upload the head's signed confirmation of the exit."),
        )
    return None


def _risk_recorded(c: StepContext) -> Refusal | None:
    change = c.status_change
    if change is None or not change.risk_cause or change.risk_date is None:
        return Refusal(Code.RISK_MISSING, _("Record the risk signal: its cause and date."))
    return None


# The rules a chain's steps name (``applications.chains.Step.rules``), by name.
RULES: dict[str, Rule] = {
    "household_eligible": _household_eligible,
    "appraisal_recorded": _appraisal_recorded,
    "has_items": _has_items,
    "posting_ended": _posting_ended,
    "no_open_objection": _no_open_objection,
    "objection_only_in_posting": _objection_only_in_posting,
    "acceptance_only_when_approved": _acceptance_only_when_approved,
    "filer_not_approver": _filer_not_approver,
    "different_approvers": _different_approvers,
    "filer_not_decider": _filer_not_decider,
    "payer_independent": _payer_independent,
    "signed_agreement": _signed_agreement,
    "card_payable": _card_payable,
    "through_round": _through_round,
    "loan_requested": _loan_requested,
    "through_loan_desk": _through_loan_desk,
    "loan_contract": _loan_contract,
    "household_status_fits": _household_status_fits,
    "exit_facts": _exit_facts,
    "exit_confirmation": _exit_confirmation,
    "risk_recorded": _risk_recorded,
}


def transition_refusal(
    name: str,
    application: Application,
    user: Actor,
    *,
    open_objections: int,
    reason: str = "",
    now: datetime,
    via_objection: bool = False,
    via_acceptance: bool = False,
    signed_agreement: bool = False,
    recused: bool = False,
    card: CardFacts | None = None,
    via_round: bool = False,
    via_loan_desk: bool = False,
    loan_contract: bool = False,
    status_change: StatusChange | None = None,
    exit_confirmation: bool = False,
) -> Refusal | None:
    """Why the step may not be taken now, or None when the rules allow it: recusal, the
    reason a step needs, then the step's own rules in their declared order
    (``applications.chains``). The state machine has already checked that the step leaves
    the current state and the role. ``recused``: ``is_recused`` for this user.
    ``via_round``: the paying step is weighed for a payment round (``payments``)."""
    step = chain_of(application).step(name)
    if step is None:
        return Refusal(Code.UNKNOWN_STEP, _("No such step: %(name)s") % {"name": name[:40]})
    if recused and user is not None:
        return recusal_refusal()
    if step.reason_required and not reason.strip():
        return Refusal(
            Code.REASON_REQUIRED, _("A reason is required to return or reject an application.")
        )
    context = StepContext(
        name=name,
        application=application,
        user=user,
        open_objections=open_objections,
        now=now,
        via_objection=via_objection,
        via_acceptance=via_acceptance,
        signed_agreement=signed_agreement,
        card=card,
        via_round=via_round,
        via_loan_desk=via_loan_desk,
        loan_contract=loan_contract,
        status_change=status_change,
        exit_confirmation=exit_confirmation,
    )
    for rule in step.rules:
        refusal = RULES[rule](context)
        if refusal is not None:
            return refusal
    return None


def budget_refusal(budget: Decimal, committed: Decimal, amount: Decimal) -> Refusal | None:
    if committed + amount > budget:
        return Refusal(
            Code.BUDGET_EXHAUSTED,
            _("The program's budget is exhausted: %(left)s yuan left, %(amount)s asked.")
            % {"left": budget - committed, "amount": amount},
        )
    return None
