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
