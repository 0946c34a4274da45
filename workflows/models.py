"""The process instance of one application's journey through its chain (whichever chain:
the flow class it runs is stored on the process by viewflow)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process

from applications.models import Application


class ApplicationProcess(Process):
    application: models.OneToOneField[Application, Application] = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="process", verbose_name=_("application")
    )

    class Meta:
        verbose_name = _("application process")
        verbose_name_plural = _("application processes")


class Tally(models.Model):
    """A count the dashboard reads (``workflows.dashboard``), by village: applications by
    program and status (with their amount), the households that applied to each program,
    and the households by type and status. Worked out again for a whole county at once by
    ``tallies_refresh`` (the timers, every minute): the dashboard reads a few hundred rows
    instead of a county's million applications, and no write of an application waits on
    a counter (a counter updated in place would lock a village's row at every step)."""

    class Kind(models.TextChoices):
        APPLICATIONS = "applications", _("applications")
        APPLIED = "applied", _("households that applied")
        HOUSEHOLDS = "households", _("households")

    county_code = models.CharField(max_length=6)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    area_code = models.CharField(max_length=12)
    program = models.ForeignKey(
        "applications.Program", null=True, on_delete=models.CASCADE, related_name="+"
    )
    # The application's status; the household's "type:status".
    key = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("dashboard tally")
        verbose_name_plural = _("dashboard tallies")
        indexes = [models.Index(fields=["county_code", "kind"], name="tally_county_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.area_code} {self.program_id} {self.key}: {self.count}"
