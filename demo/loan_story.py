"""The demo county's microloans (扶贫小额信贷), played on the seed's timeline through the
services like everything else: the county puts 5,000,000 yuan into its risk fund, households
apply through their villages, the bank decides, lends and is repaid, the county settles the
interest subsidy every quarter and pays the households' claims through payment rounds.

Loans in every status (seed 000, DOMAIN.md):

- one repaid on time, its subsidy paid every quarter;
- one paid a quarter's interest late, losing that quarter's subsidy, and active again;
- one that stopped paying, compensated by the fund (70/30) and partly recovered later;
- one compensated and then written off by the bank;
- one overdue now (not long enough for the fund);
- 毛汉春's two cows (一头牛能贷款一万元: 20,000 yuan for 36 months), active;
- and applications still on their way: one the bank declined, one granted and not drawn,
  one waiting for the bank's decision.

Every date is computed from the loans' own schedules, so the story holds whatever day the
demo is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.utils import timezone

from applications.models import Household, Program
from approvals.models import Attachment
from approvals.services.attachments import attachment_add
from approvals.services.filing import application_create
from approvals.services.transitions import postings_close_due
from common import clock
from loans.models import Instalment, Loan
from loans.schedules import INTEREST_DAY, INTEREST_MONTHS, schedule
from loans.services.fund import fund_deposit
from loans.services.lending import borrower_age, loan_approve, loan_drawdown
from loans.services.servicing import (
    loan_compensate,
    loan_recover,
    loan_repay,
    loan_write_off,
    loans_sweep,
)
from loans.services.subsidies import subsidy_claims_approve, subsidy_settle
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create

if TYPE_CHECKING:
    from demo.seed import Filing, Seeder

FUND = Decimal("5000000.00")
# The benchmark rates the demo program prices on (the last set, 2015-10-24).
RATE_1Y, RATE_1_5Y = Decimal("4.35"), Decimal("4.75")


@dataclass
class Story:
    """One loan's life: who borrows, what, when it is filed (days from today), and how the
    household repays (``behaviour``)."""

    name: str
    amount: Decimal
    months: int
    method: str
    purpose: tuple[str, str]
    filed: int
    behaviour: str


def _story(name: str, terms: str, purpose: str, filed: int, behaviour: str) -> Story:
    """``terms``: "amount months method"; ``purpose``: "category 用途"."""
    amount, months, method = terms.split()
    category, words = purpose.split(maxsplit=1)
    return Story(name, Decimal(amount), int(months), method, (category, words), filed, behaviour)


STORIES = [
    _story("repaid", "15000 12 interest_only", "livestock 购买基础母羊20只", -450, "on_time"),
    _story("late", "10000 24 interest_only", "crops 建日光温室种植蔬菜", -430, "late"),
    _story("compensated", "30000 36 interest_only", "livestock 养殖肉牛", -410, "stops"),
    _story("written_off", "12000 36 interest_only", "trade 开办村级小卖部", -400, "stops"),
    _story("overdue", "8000 12 equal_instalment", "handicraft 刺绣手工作坊", -150, "stops_late"),
    _story("maohanchun", "20000 36 interest_only", "livestock 调引两头母牛", -300, "on_time"),
    _story("declined", "50000 36 interest_only", "processing 农产品加工", -40, "declined"),
    _story("granted", "10000 24 interest_only", "tourism 农家乐改造", -25, "granted"),
    _story("waiting", "6000 12 equal_principal", "crops 种植制种玉米", -16, "waiting"),
]


class LoanStory:
    def __init__(self, seeder: Seeder, county: str, start: int) -> None:
        self.s = seeder
        self.county = county
        self.start = start
        self.program = Program.objects.get(kind=Program.Kind.LOAN, area_id=county)
        self._round: int | None = None  # the subsidy round waiting for the bank's answer

    # --- planning --------------------------------------------------------------------

    def plan(self, maohanchun: Filing, free: list[tuple[Household, str]]) -> None:
        s = self.s
        s.schedule(s.at(self.start + 5, 10, 0), self.deposit)
        from demo.seed import Filing

        candidates = iter(free)
        for story in STORIES:
            if story.name == "maohanchun":
                household, village = maohanchun.household, maohanchun.village
            else:
                household, village = self._borrower(candidates, story.filed)
            self._plan(story, Filing(household, village, "loan", [], program_id=self.program.pk))
        first = min(st.filed for st in STORIES)
        for day in range(first + 10, 0):
            s.schedule(s.at(day, 0, 30), sweep)
        self._settlements(first)

    def _borrower(self, candidates: Any, filed: int) -> tuple[Household, str]:
        day = self.s.today + timedelta(days=filed)
        for household, village in candidates:
            age = borrower_age(household, day)
            if age is not None and 20 <= age <= 60:
                return household, village
        raise AssertionError("the demo registry has too few borrowers")

    def _plan(self, story: Story, filing: Filing) -> None:
        c, s = story.filed, self.s
        officer, approver = s.users["xindai_gsnx"], s.users["approver"]
        township = s.reviewer(filing)
        steps: list[tuple[int, int, Callable[[], None]]] = [
            (0, 9, lambda: self._create(story, filing)),
            (1, 18, lambda: s.appraise(filing, c + 1)),
            (2, 9, lambda: s.move(filing, "submit")),
            (2, 10, lambda: s.move(filing, "start_posting")),
            (6, 1, close_postings),
            (7, 14, lambda: s.move(filing, "township_approve", actor=township)),
        ]
        steps.append((8, 15, lambda: s.move(filing, "county_approve", actor=approver)))
        if story.behaviour == "declined":
            reason = "经营计划不清晰，申请金额超出还款能力"
            steps.append((10, 11, lambda: s.move(filing, "bank_decline", reason, officer)))
        elif story.behaviour != "waiting":
            steps.append((9, 11, lambda: self._grant(story, filing)))
            if story.behaviour != "granted":
                steps.append((10, 10, lambda: self._contract(filing)))
                steps.append((10, 11, lambda: self._draw(story, filing)))
                drawn = s.today + timedelta(days=c + 10)
                self._plan_repayments(story, filing, drawn)
        for day, hour, run in steps:
            if c + day < 0:
                s.schedule(s.at(c + day, hour, 0), run)

    def _plan_repayments(self, story: Story, filing: Filing, drawn: date) -> None:
        rate = RATE_1Y if story.months <= 12 else RATE_1_5Y
        lines = schedule(
            principal=story.amount,
            annual_rate=rate,
            months=story.months,
            method=story.method,
            start=drawn,
        )
        due_dates = [line.due_date for line in lines]
        today = self.s.today
        paying = list(due_dates)
        if story.behaviour == "stops":
            paying = paying[:1]  # the first instalment, then nothing
        elif story.behaviour == "stops_late":
            paying = [d for d in paying if (today - d).days > 40][:-1] or paying[:1]
        for n, due in enumerate(paying):
            on = due
            if story.behaviour == "late" and n == 1:
                on = due + timedelta(days=12)  # a quarter's interest paid twelve days late
            if on < today:
                self.s.schedule(self.s.at((on - today).days, 10, 0), self._repay(filing, due, on))
        if story.behaviour != "stops":
            return
        unpaid = due_dates[1] if len(due_dates) > 1 else due_dates[0]
        compensate = unpaid + timedelta(days=95)
        if compensate >= today:
            return
        self.s.schedule(self._day(compensate, 10), lambda: self._compensate(filing))
        if story.name == "compensated":
            recovery = compensate + timedelta(days=75)
            if recovery < today:
                self.s.schedule(self._day(recovery, 15), lambda: self._recover(filing, recovery))
        else:
            written = compensate + timedelta(days=30)
            if written < today:
                self.s.schedule(self._day(written, 16), lambda: self._write_off(filing, written))

    def _day(self, day: date, hour: int) -> datetime:
        return self.s.at((day - self.s.today).days, hour, 0)

    def _settlements(self, first: int) -> None:
        """Each quarterly settlement day since the first loan: the finance officer settles
        the next morning, the county approver approves two days later, and the households'
        claims are paid in a round the day after (the bank's return file the next day)."""
        today = self.s.today
        year = (today + timedelta(days=first)).year
        days = [
            date(y, m, INTEREST_DAY)
            for y in range(year, today.year + 1)
            for m in INTEREST_MONTHS
            if today + timedelta(days=first) < date(y, m, INTEREST_DAY) <= today - timedelta(days=6)
        ]
        for day in days:
            self.s.schedule(self._day(day + timedelta(days=1), 9), self._settle(day))
            self.s.schedule(self._day(day + timedelta(days=3), 10), self._approve(day))
            self.s.schedule(self._day(day + timedelta(days=4), 14), self._pay_round)
            self.s.schedule(self._day(day + timedelta(days=5), 9), self._pay_return)

    # --- the steps --------------------------------------------------------------------

    def deposit(self) -> None:
        fund_deposit(
            actor=self.s.users["finance"],
            county_code=self.county,
            amount=FUND,
            source="区财政专项扶贫资金",
            document_number="肃财农〔2025〕27号",
            on=clock.today(),
        )

    def _create(self, story: Story, filing: Filing) -> None:
        app = application_create(
            actor=self.s.cadre(filing),
            household_id=filing.household.pk,
            program_id=self.program.pk,
            loan={
                "amount": str(story.amount),
                "months": story.months,
                "purpose_category": story.purpose[0],
                "purpose": story.purpose[1],
                "repayment_method": story.method,
                "bank": "gsnx-suzhou",
            },
        )
        filing.app_id = app.pk

    def _grant(self, story: Story, filing: Filing) -> None:
        loan_approve(
            actor=self.s.users["xindai_gsnx"],
            application_id=filing.app_id,
            terms={
                "approved_amount": str(story.amount),
                "annual_rate": str(RATE_1Y if story.months <= 12 else RATE_1_5Y),
                "months": story.months,
            },
        )

    def _contract(self, filing: Filing) -> None:
        from demo.seed import signed_scan

        app_id = filing.app_id
        attachment_add(
            actor=self.s.users["xindai_gsnx"],
            application_id=app_id,
            kind=Attachment.Kind.LOAN_CONTRACT,
            file=ContentFile(signed_scan(app_id), name=f"借款合同-{app_id}.pdf"),
        )

    def _draw(self, story: Story, filing: Filing) -> None:
        loan_drawdown(
            actor=self.s.users["xindai_gsnx"],
            application_id=filing.app_id,
            on=clock.today(),
            amount=str(story.amount),
        )

    def _repay(self, filing: Filing, due: date, on: date) -> Callable[[], None]:
        def run() -> None:
            inst = Instalment.objects.get(loan_id=filing.app_id, due_date=due)
            loan_repay(
                actor=self.s.users["xindai_gsnx"],
                loan_id=filing.app_id,
                on=on,
                principal=str(inst.principal - inst.principal_paid),
                interest=str(inst.interest - inst.interest_paid),
                penalty="0",
            )

        return run

    def _compensate(self, filing: Filing) -> None:
        loans_sweep()
        loan_compensate(actor=self.s.users["xindai_gsnx"], loan_id=filing.app_id, on=clock.today())

    def _recover(self, filing: Filing, on: date) -> None:
        loan = Loan.objects.get(pk=filing.app_id)
        loan_recover(
            actor=self.s.users["xindai_gsnx"],
            loan_id=loan.pk,
            amount=str((loan.compensation_base or Decimal(0)) / 5),
            on=on,
        )

    def _write_off(self, filing: Filing, on: date) -> None:
        loan_write_off(
            actor=self.s.users["xindai_gsnx"],
            loan_id=filing.app_id,
            on=on,
            reason="借款人举家外出，经多次催收无果，风险补偿后核销银行承担部分",
        )

    def _settle(self, day: date) -> Callable[[], None]:
        def run() -> None:
            subsidy_settle(actor=self.s.users["finance"], county_code=self.county, period_end=day)

        return run

    def _approve(self, day: date) -> Callable[[], None]:
        def run() -> None:
            from loans.models import SubsidyClaim

            if SubsidyClaim.objects.filter(period_end=day, status="pending").exists():
                subsidy_claims_approve(
                    actor=self.s.users["approver"], county_code=self.county, period_end=day
                )

        return run

    def _pay_round(self) -> None:
        """A round of the approved household claims (none: no round, as an officer would
        not draw up an empty one)."""
        from loans.models import SubsidyClaim

        self._round = None
        if not SubsidyClaim.objects.filter(
            status=SubsidyClaim.Status.APPROVED, payee="household"
        ).exists():
            return
        finance = self.s.users["finance"]
        round_ = payment_round_create(
            actor=finance, program_id=self.program.pk, area_code=self.county
        )
        payment_round_approve(actor=self.s.users["approver"], round_id=round_.pk)
        bank_file_export(actor=finance, round_id=round_.pk)
        self._round = round_.pk

    def _pay_return(self) -> None:
        from demo.seed import bank_return_file
        from payments.models import PaymentRound

        round_id = self._round
        if round_id is None:
            return
        round_ = PaymentRound.objects.get(pk=round_id)
        bank_return_import(
            actor=self.s.users["finance"], round_id=round_.pk, data=bank_return_file(round_, {})
        )
        self._round = None


def close_postings() -> None:
    """The nightly timer's closing of postings whose window has ended."""
    postings_close_due(now=clock.now())


def sweep() -> None:
    """The nightly timer's loan sweep (``process_timers``)."""
    loans_sweep()


def loans_summary() -> str:
    """One line for the seed's output: the loans by status and the fund's balance."""
    from loans.models import RiskFund, SubsidyClaim

    counts: dict[str, int] = {}
    for status in Loan.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    fund = RiskFund.objects.first()
    paid = SubsidyClaim.objects.filter(status="paid").count()
    return (
        "loans: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"; risk fund {fund.balance if fund else 0}; subsidy claims paid {paid}"
        + f" (as of {timezone.localdate(clock.now()).isoformat()})"
    )
