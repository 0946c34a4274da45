"""The chains an application can travel, each declared once.

A chain is the declaration of its steps: for each step its name, the moves it makes (from
which state to which, taken by which role, completing which node of the chain's viewflow
process), its label, the page that offers it, whether it needs a reason, which field records
who took it, and the names of the rules (``approvals.policy.RULES``) that must pass. From
this one declaration derive:

- the state machine (``applications.lifecycle``: its transitions and their roles);
- the labels of the buttons, the timeline and the inspectors' search (``approvals.labels``);
- the flow node each step completes and the node each status waits in (``workflows.sync``,
  ``workflows.selectors``: the queues and ``process_divergences``);
- the statuses the audit replay follows and the ones that commit the budget
  (``applications.integrity``);
- the steps the cadre's and the reviewers' pages offer.

Adding a chain means one new declaration (``chain_register``), its flow, and its rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from applications.models import Application, Program
from applications.roles import Role
from common.actors import Actor

S = Application.Status


class Page(StrEnum):
    """Where a step is offered to a person."""

    CADRE = "cadre"  # the village cadre's application page
    REVIEW = "review"  # the reviewers' decision page (township, county)
    FINANCE = "finance"  # the finance officer's payment
    BANK = "bank"  # the bank officer's loan desk
    SYSTEM = "system"  # nobody: the timers take it


@dataclass(frozen=True)
class Move:
    """One edge of the state machine: ``source`` → ``target`` by ``role`` (None: the
    system), completing ``node`` of the process (None: the move ends the process, as a
    withdrawal does)."""

    source: str
    target: str
    role: str | None
    node: str | None


# What a step changes on the application besides its status: (application, actor, now).
Effect = Callable[[Application, Actor, datetime], None]


@dataclass(frozen=True)
class Step:
    name: str
    label: Promise
    page: Page
    moves: tuple[Move, ...]
    rules: tuple[str, ...] = ()
    reason_required: bool = False
    # The application field that records who took the step (``submitted_by``...).
    records_actor: str | None = None
    effect: Effect | None = None
    # The step spends the program's budget (checked under the program's lock). The running
    # total follows the chain's ``committed`` statuses: raised by a step into them, lowered
    # by a step out of them (an approved application rejected after a failed acceptance).
    commits_budget: bool = False
    # The step pays the household through a payment round: the signed agreement and the
    # bank card are read for it.
    pays: bool = False
    # What a page asks before a step that cannot be undone (None: it asks nothing).
    confirm: Promise | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(m.source for m in self.moves)


@dataclass(frozen=True, eq=False)
class Chain:
    """One kind of journey. ``kinds``: the program kinds whose applications travel it.
    ``flow``: the dotted path of its viewflow class (stored in the database by viewflow:
    never renamed without a data migration)."""

    key: str
    label: Promise
    kinds: tuple[str, ...]
    flow: str
    initial: str
    steps: tuple[Step, ...]
    # The statuses in which an application's amount counts against the program's budget.
    committed: frozenset[str] = field(default_factory=frozenset)

    def step(self, name: str) -> Step | None:
        return self.steps_by_name.get(name)

    @cached_property
    def steps_by_name(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    @cached_property
    def reason_required(self) -> frozenset[str]:
        return frozenset(s.name for s in self.steps if s.reason_required)

    @cached_property
    def approvals(self) -> tuple[str, ...]:
        """The reviewers' approvals (their steps that need no reason), in chain order."""
        return tuple(s.name for s in self.steps if s.page == Page.REVIEW and not s.reason_required)

    def names_on(self, page: Page) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.page == page)

    @cached_property
    def statuses(self) -> tuple[str, ...]:
        """Every state of the chain, the initial one first, in the order the steps reach
        them."""
        seen = [self.initial]
        for step in self.steps:
            for move in step.moves:
                for state in (move.source, move.target):
                    if state not in seen:
                        seen.append(state)
        return tuple(seen)

    @cached_property
    def node_of_step(self) -> dict[tuple[str, str], str | None]:
        """The process node a step completes, by the step and the state it leaves."""
        return {(s.name, m.source): m.node for s in self.steps for m in s.moves}

    @cached_property
    def node_of_status(self) -> dict[str, str | None]:
        """The node an application of this chain waits in, by its status (None: the process
        has ended). Derived from the moves leaving each state: they all complete the same
        node (``chain_check`` makes sure)."""
        out: dict[str, str | None] = {}
        for status in self.statuses:
            nodes = {m.node for s in self.steps for m in s.moves if m.source == status}
            nodes.discard(None)
            out[status] = next(iter(nodes)) if nodes else None
        return out

    def statuses_of_node(self, node: str) -> list[str]:
        return [status for status, name in self.node_of_status.items() if name == node]


_chains: dict[str, Chain] = {}
_by_kind: dict[str, Chain] = {}
# Raised at every change of the registry, so that what is derived from all the chains (the
# labels) can be kept until the chains change.
_generation = [0]


def chains_generation() -> int:
    """A number that changes whenever a chain is registered or forgotten."""
    return _generation[0]


def chain_check(chain: Chain) -> list[str]:
    """What is wrong with a declaration (empty: nothing): a step without moves, label or
    page, two steps of one name, a state whose leaving moves complete different nodes, a
    move from a state nothing reaches."""
    problems: list[str] = []
    names = [s.name for s in chain.steps]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"{chain.key}: step '{name}' is declared twice")
    reached = {chain.initial} | {m.target for s in chain.steps for m in s.moves}
    for step in chain.steps:
        if not step.moves:
            problems.append(f"{chain.key}.{step.name}: no moves")
        if not str(step.label):
            problems.append(f"{chain.key}.{step.name}: no label")
        if str(step.page) not in {p.value for p in Page}:
            problems.append(f"{chain.key}.{step.name}: no page")
        for move in step.moves:
            if move.source not in reached:
                problems.append(f"{chain.key}.{step.name}: nothing reaches '{move.source}'")
            if move.role is None and step.page != Page.SYSTEM:
                problems.append(f"{chain.key}.{step.name}: a system move on a person's page")
    for status in chain.statuses:
        nodes = {m.node for s in chain.steps for m in s.moves if m.source == status and m.node}
        if len(nodes) > 1:
            problems.append(f"{chain.key}: '{status}' is left from nodes {sorted(nodes)}")
    return problems


def chain_register(chain: Chain) -> Chain:
    """Make a chain known (at import of its declaration). A kind is travelled by one chain."""
    problems = chain_check(chain)
    if problems:
        raise ValueError("; ".join(problems))
    for kind in chain.kinds:
        other = _by_kind.get(kind)
        if other is not None and other.key != chain.key:
            raise ValueError(f"program kind '{kind}' already travels chain '{other.key}'")
    _chains[chain.key] = chain
    for kind in chain.kinds:
        _by_kind[kind] = chain
    _generation[0] += 1
    return chain


def chain_unregister(key: str) -> None:
    """Forget a chain (tests that declare one of their own)."""
    chain = _chains.pop(key, None)
    if chain is not None:
        for kind in chain.kinds:
            if _by_kind.get(kind) is chain:
                del _by_kind[kind]
        _generation[0] += 1


def chains() -> tuple[Chain, ...]:
    return tuple(_chains.values())


def chain_get(key: str) -> Chain:
    return _chains[key]


def chain_for_kind(kind: str) -> Chain | None:
    """The chain applications of a program kind travel, or None (no chain open for it)."""
    return _by_kind.get(kind)


def chain_of(application: Application) -> Chain:
    """The chain an application travels, by its program's kind (read with the application:
    select the program with it where many are read)."""
    kind = application.program.kind
    chain = _by_kind.get(kind)
    if chain is None:
        raise LookupError(f"no chain for program kind '{kind}'")
    return chain


def step_names() -> tuple[str, ...]:
    """Every step name of every chain, once, in declaration order."""
    out: list[str] = []
    for chain in _chains.values():
        out.extend(n for n in chain.names if n not in out)
    return tuple(out)


def step_label(name: str) -> Promise | None:
    for chain in _chains.values():
        step = chain.step(name)
        if step is not None:
            return step.label
    return None


def moves(
    sources: str | Iterable[str], target: str, role: str | None, node: str | None
) -> tuple[Move, ...]:
    """The same move from several states."""
    states = (sources,) if isinstance(sources, str) else tuple(sources)
    return tuple(Move(s, target, role, node) for s in states)


# --- the subsidy chain (到户产业扶持) ------------------------------------------------------


def _open_posting(application: Application, actor: Actor, now: datetime) -> None:
    application.posting_started_at = now
    application.posting_ends_at = now + timedelta(days=application.program_version.posting_days)


CADRE, TOWNSHIP, COUNTY, FINANCE = (
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.FINANCE_OFFICER,
)


def head_steps(
    *,
    submit_rules: tuple[str, ...],
    commits_budget: bool,
    approved: str = S.APPROVED,
    approve_rules: tuple[str, ...] = (),
    approve_effect: Effect | None = None,
) -> tuple[Step, ...]:
    """The steps every chain shares (``workflows.flows.ApplicationHead``): filing and
    submission in the village, the public posting, the township's review and the county's
    approval, a return for correction and a withdrawal. ``submit_rules``: what the chain
    checks before submission; ``commits_budget``: the county's approval spends the
    program's budget; ``approved``: the state the county's approval leads to, with its
    own ``approve_rules`` checked first and its ``approve_effect``. A rejection is each
    chain's own (it may be reached from its tail)."""
    return (
        Step(
            "submit",
            _("Submit"),
            Page.CADRE,
            moves((S.DRAFT, S.RETURNED), S.SUBMITTED, CADRE, "submit"),
            rules=submit_rules,
            records_actor="submitted_by",
        ),
        Step(
            "start_posting",
            _("Start posting"),
            Page.CADRE,
            moves(S.SUBMITTED, S.POSTED, CADRE, "start_posting"),
            effect=_open_posting,
        ),
        Step(
            "close_posting",
            _("Close posting"),
            Page.SYSTEM,
            moves(S.POSTED, S.TOWNSHIP_REVIEW, None, "posting"),
            rules=("posting_ended", "no_open_objection"),
        ),
        Step(
            "township_approve",
            _("Approve (township)"),
            Page.REVIEW,
            moves(S.TOWNSHIP_REVIEW, S.COUNTY_REVIEW, TOWNSHIP, "township_review"),
            rules=("no_open_objection", "filer_not_approver", "filer_not_decider"),
            records_actor="township_approved_by",
        ),
        Step(
            "county_approve",
            _("Approve (county)"),
            Page.REVIEW,
            moves(S.COUNTY_REVIEW, approved, COUNTY, "county_review"),
            rules=(
                *approve_rules,
                "no_open_objection",
                "filer_not_approver",
                "different_approvers",
                "filer_not_decider",
            ),
            records_actor="county_approved_by",
            commits_budget=commits_budget,
            effect=approve_effect,
        ),
        Step(
            "return",
            _("Return for correction"),
            Page.REVIEW,
            moves(S.TOWNSHIP_REVIEW, S.RETURNED, TOWNSHIP, "township_review")
            + moves(S.COUNTY_REVIEW, S.RETURNED, COUNTY, "county_review"),
            rules=("filer_not_decider",),
            reason_required=True,
        ),
        Step(
            "withdraw",
            _("Withdraw"),
            Page.CADRE,
            moves((S.DRAFT, S.SUBMITTED, S.POSTED, S.RETURNED), S.WITHDRAWN, CADRE, None),
            confirm=_("Withdraw this application? This cannot be undone."),
        ),
    )


# The head's rejections: during posting through an upheld objection, and by the reviewers.
_HEAD_REJECTIONS = (
    moves(S.POSTED, S.REJECTED, TOWNSHIP, "posting")
    + moves(S.TOWNSHIP_REVIEW, S.REJECTED, TOWNSHIP, "township_review")
    + moves(S.COUNTY_REVIEW, S.REJECTED, COUNTY, "county_review")
)

SUBSIDY = chain_register(
    Chain(
        key="subsidy",
        label=_("Household industry subsidy"),
        kinds=(Program.Kind.SUBSIDY,),
        flow="workflows.flows.SubsidyApplicationFlow",
        initial=S.DRAFT,
        committed=frozenset({S.APPROVED, S.DISBURSED}),
        steps=(
            *head_steps(
                submit_rules=("household_eligible", "appraisal_recorded", "has_items"),
                commits_budget=True,
            ),
            Step(
                "reject",
                _("Reject"),
                Page.REVIEW,
                # From ``posted`` only through an upheld objection (``objection_resolve``);
                # from ``approved`` only after a failed acceptance visit of work the program
                # pays after it is built (先建后补, ``payments.services.acceptance``).
                _HEAD_REJECTIONS + moves(S.APPROVED, S.REJECTED, COUNTY, "disburse"),
                rules=(
                    "objection_only_in_posting",
                    "acceptance_only_when_approved",
                    "filer_not_decider",
                ),
                reason_required=True,
                confirm=_("Reject this application? This cannot be undone."),
            ),
            Step(
                "disburse",
                _("Pay"),
                Page.FINANCE,
                moves(S.APPROVED, S.DISBURSED, FINANCE, "disburse"),
                rules=("through_round", "payer_independent", "signed_agreement", "card_payable"),
                records_actor="disbursed_by",
                pays=True,
            ),
        ),
    )
)

# --- the microloan chain (扶贫小额信贷) --------------------------------------------------------

BANK = Role.BANK_OFFICER

LOAN = chain_register(
    Chain(
        key="loan",
        label=_("Poverty microloan"),
        kinds=(Program.Kind.LOAN,),
        flow="workflows.flows.LoanApplicationFlow",
        initial=S.DRAFT,
        # A loan spends no budget of the program: the county's risk fund bounds what banks
        # lend (its capacity, checked by the bank's approval under the fund's lock).
        committed=frozenset(),
        steps=(
            *head_steps(
                submit_rules=("household_eligible", "appraisal_recorded", "loan_requested"),
                commits_budget=False,
            ),
            Step(
                "reject",
                _("Reject"),
                Page.REVIEW,
                _HEAD_REJECTIONS,
                rules=("objection_only_in_posting", "filer_not_decider"),
                reason_required=True,
                confirm=_("Reject this application? This cannot be undone."),
            ),
            # The bank's credit decision, with the amount, rate and term it grants
            # (``loans.services.lending``: the rate cap and the fund's capacity).
            Step(
                "bank_approve",
                _("Approve the loan (bank)"),
                Page.BANK,
                moves(S.APPROVED, S.BANK_APPROVED, BANK, "bank_review"),
                rules=("through_loan_desk",),
            ),
            Step(
                "bank_decline",
                _("Decline the loan (bank)"),
                Page.BANK,
                moves(S.APPROVED, S.DECLINED, BANK, "bank_review"),
                reason_required=True,
                confirm=_("Decline this loan? This cannot be undone."),
            ),
            # The drawdown: the bank lends the money to the borrower's account against the
            # signed contract (``loans.services.lending.loan_drawdown``).
            Step(
                "disburse",
                _("Draw down the loan"),
                Page.BANK,
                moves(S.BANK_APPROVED, S.DISBURSED, BANK, "drawdown"),
                rules=("through_loan_desk", "loan_contract"),
                records_actor="disbursed_by",
            ),
        ),
    )
)


# --- exit from poverty (脱贫销号) and return to it (返贫挂号) ----------------------------------


def _household_status_to(status: str) -> Effect:
    """The county's approval of an exit or a return: the household's new status, from
    today (``applications.services.household_status_change``, audited, under its lock)."""

    def effect(application: Application, actor: Actor, now: datetime) -> None:
        from applications.services import household_status_change

        household_status_change(
            actor=actor,
            household_id=application.household_id,
            status=status,
            application=application,
        )

    return effect


EXIT = chain_register(
    Chain(
        key="exit",
        label=_("Exit from poverty"),
        kinds=(Program.Kind.EXIT,),
        flow="workflows.flows.HouseholdExitFlow",
        initial=S.DRAFT,
        committed=frozenset(),
        steps=(
            *head_steps(
                submit_rules=(
                    "household_status_fits",
                    "appraisal_recorded",
                    "exit_facts",
                    "exit_confirmation",
                ),
                commits_budget=False,
                approved=S.CONCLUDED,
                approve_rules=("household_status_fits",),
                approve_effect=_household_status_to("exited"),
            ),
            Step(
                "reject",
                _("Reject"),
                Page.REVIEW,
                _HEAD_REJECTIONS,
                rules=("objection_only_in_posting", "filer_not_decider"),
                reason_required=True,
                confirm=_("Reject this proposal? This cannot be undone."),
            ),
        ),
    )
)

RETURN = chain_register(
    Chain(
        key="return",
        label=_("Return to poverty"),
        kinds=(Program.Kind.RETURN,),
        flow="workflows.flows.PovertyReturnFlow",
        initial=S.DRAFT,
        committed=frozenset(),
        steps=(
            *head_steps(
                submit_rules=("household_status_fits", "appraisal_recorded", "risk_recorded"),
                commits_budget=False,
                approved=S.CONCLUDED,
                approve_rules=("household_status_fits",),
                approve_effect=_household_status_to("returned"),
            ),
            Step(
                "reject",
                _("Reject"),
                Page.REVIEW,
                _HEAD_REJECTIONS,
                rules=("objection_only_in_posting", "filer_not_decider"),
                reason_required=True,
                confirm=_("Reject this proposal? This cannot be undone."),
            ),
        ),
    )
)
