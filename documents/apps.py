from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


def check_pdf_environment(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Say at start-up which font or library is missing, rather than printing empty boxes."""
    from documents.rendering import environment_problems

    # Warnings, not errors: the rest of the application works without PDFs, and
    # `make check` fails on warnings anyway.
    return [
        checks.Warning(problem.message, hint=problem.hint, id=f"documents.{problem.code}")
        for problem in environment_problems()
    ]


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        checks.register(check_pdf_environment, "documents")
