"""Microloans (扶贫小额信贷): reference rates, loan parameters, the county risk fund, loans, their
schedules and repayments."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from common import clock


class ReferenceRate(models.Model):
    """A published reference rate, in percent a year, from the day it took effect until the
    next one of its kind: the People's Bank's benchmark lending rates (基准利率, the last set
    on 2015-10-24) and the loan prime rates (LPR, monthly from 2019-08-20)."""

    class Kind(models.TextChoices):
        BENCHMARK_1Y = "benchmark_1y", _("benchmark rate, up to 1 year")
        BENCHMARK_1_5Y = "benchmark_1_5y", _("benchmark rate, 1 to 5 years")
        LPR_1Y = "lpr_1y", _("loan prime rate, 1 year")
        LPR_5Y = "lpr_5y", _("loan prime rate, over 5 years")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    effective_from = models.DateField(_("effective from"))
    rate = models.DecimalField(
        _("rate (% a year)"),
        max_digits=6,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(36)],
    )
    source = models.CharField(_("source"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("reference rate")
        verbose_name_plural = _("reference rates")
        ordering = ["kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "effective_from"], name="reference_rate_kind_date_unique"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=36), name="reference_rate_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.effective_from}: {self.rate}%"


class LoanParameters(models.Model):
    """What a loan program's parameter version (``applications.ProgramVersion``, effective
    from its date, with its policy reference) says beyond the amount and term caps kept on
    the version itself: who may borrow, how the rate is capped, how the county subsidises
    interest (贴息), how loans are repaid, what they may be for, and the county's risk
    fund (风险补偿金). Every figure is a parameter: counties differ (seed 001)."""

    class RateRule(models.TextChoices):
        BENCHMARK = "benchmark", _("benchmark rate")
        LPR = "lpr", _("loan prime rate")

    class Settlement(models.TextChoices):
        YEARLY = "yearly", _("yearly, on 20 December")
        QUARTERLY = "quarterly", _("quarterly, on the 20th of March, June, September, December")
        AT_MATURITY = "at_maturity", _("at maturity (terms of 12 months or less)")

    class Payee(models.TextChoices):
        HOUSEHOLD = "household", _("the household (先收后贴)")
        BANK = "bank", _("the bank")

    class Base(models.TextChoices):
        PRINCIPAL = "principal", _("principal")
        PRINCIPAL_AND_INTEREST = "principal_and_interest", _("principal and interest")

    version = models.OneToOneField(
        "applications.ProgramVersion", on_delete=models.PROTECT, related_name="loan"
    )
    min_age = models.PositiveSmallIntegerField(_("youngest borrower (years)"), default=18)
    max_age = models.PositiveSmallIntegerField(_("oldest borrower (years)"), default=65)
    eligible_statuses = models.JSONField(_("household statuses that may borrow"), default=list)
    rate_rule = models.CharField(
        _("reference rate"), max_length=16, choices=RateRule.choices, default=RateRule.BENCHMARK
    )
    rate_spread_max = models.DecimalField(
        _("most a bank may add to the reference rate (points)"),
        max_digits=6,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
    )
    subsidy_share = models.DecimalField(
        _("share of the interest subsidised (%)"),
        max_digits=5,
        decimal_places=2,
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    subsidy_principal_cap = models.DecimalField(
        _("principal the subsidy is paid on, at most"),
        max_digits=12,
        decimal_places=2,
        default=50000,
        validators=[MinValueValidator(0)],
    )
    settlement = models.CharField(
        _("subsidy settlement"), max_length=16, choices=Settlement.choices, default="quarterly"
    )
    day_count = models.CharField(_("day count"), max_length=8, default="act_360")
    grace_days = models.PositiveSmallIntegerField(_("days of grace for interest"), default=0)
    payee = models.CharField(
        _("subsidy paid to"), max_length=16, choices=Payee.choices, default=Payee.HOUSEHOLD
    )
    repayment_methods = models.JSONField(_("repayment methods allowed"), default=list)
    allowed_purposes = models.JSONField(_("purposes allowed"), default=list)
    forbidden_purposes = models.JSONField(_("purposes forbidden"), default=list)
    leverage = models.DecimalField(
        _("loans the fund covers, times its balance"),
        max_digits=5,
        decimal_places=2,
        default=10,
        validators=[MinValueValidator(0)],
    )
    compensation_after_days = models.PositiveSmallIntegerField(
        _("days past due before the fund compensates"), default=90
    )
    fund_share = models.DecimalField(
        _("share of a bad loan the fund bears (%)"),
        max_digits=5,
        decimal_places=2,
        default=70,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    compensation_base = models.CharField(
        _("compensated on"), max_length=24, choices=Base.choices, default=Base.PRINCIPAL
    )

    class Meta:
        verbose_name = _("loan parameters")
        verbose_name_plural = _("loan parameters")

    def __str__(self) -> str:
        return f"loan parameters of version {self.version_id}"


class RiskFund(models.Model):
    """A county's risk-compensation fund (风险补偿金): banks lend up to ``leverage`` times its
    balance, and it bears its share of a bad loan. The balance moves only with a movement
    (``FundMovement``), under this row's lock, and never goes below zero (a check)."""

    county = models.OneToOneField(
        "applications.Area", on_delete=models.PROTECT, related_name="+", primary_key=True
    )
    balance = models.DecimalField(_("balance"), max_digits=14, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("risk-compensation fund")
        verbose_name_plural = _("risk-compensation funds")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="risk_fund_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.county_id}: {self.balance}"


class FundMovement(models.Model):
    """One movement of a fund, append-only (the database refuses an update or a delete):
    a deposit from the county's budget, a compensation paid to a bank, a recovery returned."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", _("deposit")
        COMPENSATION = "compensation", _("compensation")
        RECOVERY = "recovery", _("recovery")

    fund = models.ForeignKey(RiskFund, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # The loan a compensation or a recovery is for.
    loan = models.ForeignKey(
        "Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="fund_movements"
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=14, decimal_places=2)
    source = models.CharField(_("source"), max_length=200)
    document_number = models.CharField(_("document number"), max_length=100)
    date = models.DateField(_("date"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("fund movement")
        verbose_name_plural = _("fund movements")
        ordering = ["fund", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="fund_movement_positive"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="fund_movement_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.fund_id})"


class Loan(models.Model):
    """A poverty microloan the bank lent: made by the drawdown of a loan application
    (``loans.services.lending.loan_drawdown``), its key the application's. The outstanding
    principal, days past due and status move only with its repayments and the daily sweep
    (``loans.services.servicing``); ``verify_audit`` replays the principal from the record."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("loan", "active")
        OVERDUE = "overdue", _("overdue")
        REPAID = "repaid", _("repaid")
        COMPENSATED = "compensated", _("compensated by the fund")
        WRITTEN_OFF = "written_off", _("written off")

    OPEN = (Status.ACTIVE, Status.OVERDUE)

    application = models.OneToOneField(
        "applications.Application",
        on_delete=models.PROTECT,
        related_name="lent",
        primary_key=True,
    )
    reference = models.CharField(_("loan reference"), max_length=32, unique=True)
    bank = models.ForeignKey("applications.Bank", on_delete=models.PROTECT, related_name="loans")
    household = models.ForeignKey(
        "applications.Household", on_delete=models.PROTECT, related_name="loans"
    )
    program_version = models.ForeignKey(
        "applications.ProgramVersion", on_delete=models.PROTECT, related_name="loans"
    )
    area_code = models.CharField(_("village code"), max_length=12)
    principal = models.DecimalField(_("principal"), max_digits=12, decimal_places=2)
    annual_rate = models.DecimalField(_("contract rate (% a year)"), max_digits=6, decimal_places=4)
    reference_rate = models.DecimalField(
        _("reference rate (% a year)"), max_digits=6, decimal_places=4
    )
    months = models.PositiveSmallIntegerField(_("term (months)"))
    method = models.CharField(_("repayment method"), max_length=20)
    day_count = models.CharField(_("day count"), max_length=8)
    drawdown_date = models.DateField(_("drawdown date"))
    maturity_date = models.DateField(_("maturity date"))
    outstanding_principal = models.DecimalField(
        _("outstanding principal"), max_digits=12, decimal_places=2
    )
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    # Covered by the county's risk fund (its capacity counts the outstanding principal).
    covered = models.BooleanField(_("covered by the risk fund"), default=True)
    swept_on = models.DateField(_("last daily sweep"), null=True)
    # A bad loan compensated by the fund (风险补偿): the base, the fund's share of it (the
    # bank bears the rest), and what was recovered afterwards (split in the same shares).
    compensation_base = models.DecimalField(
        _("compensated base"), max_digits=12, decimal_places=2, null=True
    )
    compensation_fund_share = models.DecimalField(
        _("fund's share (%)"), max_digits=5, decimal_places=2, null=True
    )
    compensation_paid = models.DecimalField(
        _("paid by the fund"), max_digits=12, decimal_places=2, null=True
    )
    compensated_on = models.DateField(_("compensated on"), null=True)
    recovered = models.DecimalField(_("recovered"), max_digits=12, decimal_places=2, default=0)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        ordering = ["-drawdown_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(
                condition=Q(outstanding_principal__gte=0)
                & Q(outstanding_principal__lte=models.F("principal")),
                name="loan_outstanding_in_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["area_code", "status"],
                name="loan_scope_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            models.Index(fields=["status", "bank"], name="loan_status_bank_idx"),
        ]

    def __str__(self) -> str:
        return self.reference


class Instalment(models.Model):
    """One line of a loan's schedule: what is due on its date, and what was paid of it.
    ``interest_paid_on``: the day its interest was paid in full (the interest subsidy asks
    whether that was by the due date plus the grace days)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="instalments")
    seq = models.PositiveSmallIntegerField(_("no."))
    start_date = models.DateField(_("interest from"))
    due_date = models.DateField(_("due date"))
    days = models.PositiveSmallIntegerField(_("days"))
    principal = models.DecimalField(_("principal"), max_digits=12, decimal_places=2)
    interest = models.DecimalField(_("interest"), max_digits=12, decimal_places=2)
    # The principal owed during the period (what its interest is on).
    balance_before = models.DecimalField(_("principal owed"), max_digits=12, decimal_places=2)
    principal_paid = models.DecimalField(
        _("principal paid"), max_digits=12, decimal_places=2, default=0
    )
    interest_paid = models.DecimalField(
        _("interest paid"), max_digits=12, decimal_places=2, default=0
    )
    interest_paid_on = models.DateField(_("interest paid in full on"), null=True)
    paid_on = models.DateField(_("paid in full on"), null=True)

    class Meta:
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")
        ordering = ["loan", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "seq"], name="instalment_seq_unique"),
            models.CheckConstraint(
                condition=Q(principal_paid__gte=0)
                & Q(principal_paid__lte=models.F("principal"))
                & Q(interest_paid__gte=0)
                & Q(interest_paid__lte=models.F("interest")),
                name="instalment_paid_in_range",
            ),
        ]
        indexes = [models.Index(fields=["due_date", "paid_on"], name="instalment_due_idx")]

    def __str__(self) -> str:
        return f"{self.loan_id}#{self.seq}"

    @property
    def total(self) -> Any:
        return self.principal + self.interest


class RepaymentImport(models.Model):
    """A bank's repayment file, applied once: the same file again (its SHA-256) changes
    nothing."""

    sha256 = models.CharField(max_length=64, unique=True)
    original_name = models.CharField(max_length=200)
    rows = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("repayment file")
        verbose_name_plural = _("repayment files")

    def __str__(self) -> str:
        return self.original_name


class Repayment(models.Model):
    """A repayment the bank received, as it reported it (``principal``, ``interest``,
    ``penalty``), and as it was applied: penalty first, then overdue interest, then
    interest due, then principal (``applied_*``). Append-only."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    date = models.DateField(_("date"))
    principal = models.DecimalField(_("principal"), max_digits=12, decimal_places=2)
    interest = models.DecimalField(_("interest"), max_digits=12, decimal_places=2)
    penalty = models.DecimalField(_("penalty interest"), max_digits=12, decimal_places=2)
    applied_interest = models.DecimalField(max_digits=12, decimal_places=2)
    applied_principal = models.DecimalField(max_digits=12, decimal_places=2)
    source = models.ForeignKey(
        RepaymentImport,
        null=True,
        on_delete=models.PROTECT,
        related_name="repayments",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        ordering = ["loan", "date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(principal__gte=0) & Q(interest__gte=0) & Q(penalty__gte=0),
                name="repayment_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.date}"

    @property
    def amount(self) -> Any:
        return self.principal + self.interest + self.penalty


class SubsidyClaim(models.Model):
    """The county's interest subsidy (贴息) for one interest period of a loan (one line of its
    schedule), made by the settlement on ``period_end``: interest on the principal owed, up
    to the program's cap, at the lower of the contract rate and the reference rate in force,
    times the subsidised share. Nothing when that period's interest was not paid in full by
    its due date plus the grace days (``reason``). One claim per period (settling twice
    changes nothing); a second county official approves it; then the household is paid
    through a payment round (先收后贴) or the bank through its list."""

    class Status(models.TextChoices):
        INELIGIBLE = "ineligible", _("not subsidised")
        PENDING = "pending", _("awaiting approval")
        APPROVED = "approved", _("approved")
        PAID = "paid", _("paid")

    class Reason(models.TextChoices):
        OVERDUE = "overdue", _("the interest was paid late")
        NOT_PAID = "not_paid", _("the interest was not paid in full")
        NOTHING = "nothing", _("no interest to subsidise")

    instalment = models.OneToOneField(
        Instalment, on_delete=models.PROTECT, related_name="subsidy_claim"
    )
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="subsidy_claims")
    bank = models.ForeignKey("applications.Bank", on_delete=models.PROTECT, related_name="+")
    area_code = models.CharField(_("village code"), max_length=12)
    period_end = models.DateField(_("settlement date"))
    payee = models.CharField(_("paid to"), max_length=16, choices=LoanParameters.Payee.choices)
    start_date = models.DateField(_("interest from"))
    due_date = models.DateField(_("due date"))
    days = models.PositiveSmallIntegerField(_("days"))
    base = models.DecimalField(_("principal subsidised"), max_digits=12, decimal_places=2)
    rate = models.DecimalField(_("rate subsidised (% a year)"), max_digits=6, decimal_places=4)
    share = models.DecimalField(_("share subsidised (%)"), max_digits=5, decimal_places=2)
    interest = models.DecimalField(_("interest due"), max_digits=12, decimal_places=2)
    interest_paid = models.DecimalField(_("interest paid"), max_digits=12, decimal_places=2)
    interest_paid_on = models.DateField(_("interest paid in full on"), null=True)
    amount = models.DecimalField(_("subsidy"), max_digits=12, decimal_places=2)
    reason = models.CharField(_("why not"), max_length=16, choices=Reason.choices, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    settled_at = models.DateTimeField(default=clock.now, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True)
    paid_at = models.DateTimeField(null=True)
    # The payment line that paid the household, or the county's transfer to the bank.
    paid_reference = models.CharField(_("paid by"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("interest subsidy claim")
        verbose_name_plural = _("interest subsidy claims")
        ordering = ["period_end", "loan", "due_date"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="subsidy_claim_not_negative"),
            models.CheckConstraint(
                condition=Q(amount__lte=models.F("interest")), name="subsidy_claim_within_interest"
            ),
            models.CheckConstraint(
                condition=(Q(status="ineligible") & Q(amount=0))
                | (~Q(status="ineligible") & Q(amount__gt=0) & Q(reason="")),
                name="subsidy_claim_status_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["area_code", "period_end"],
                name="subsidy_claim_scope_idx",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
            models.Index(fields=["status", "payee", "bank"], name="subsidy_claim_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id}#{self.due_date}: {self.amount}"
