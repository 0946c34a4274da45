"""Microloans (扶贫小额信贷). For now the reference rates the contract rates are capped by."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
