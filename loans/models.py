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
