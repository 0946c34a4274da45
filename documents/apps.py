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


LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 - names, not a bind


def check_public_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every printed document carries its verification address (and a QR code of it), and
    is stored once: a wrong ``FUPIN_PUBLIC_URL`` stays on paper. An error when it is not an
    http(s) address; a warning when it points to this machine only (a loopback address)."""
    from urllib.parse import urlsplit

    from django.conf import settings

    url = str(getattr(settings, "FUPIN_PUBLIC_URL", "") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            checks.Error(
                f"FUPIN_PUBLIC_URL is {url!r}, not an http(s) address.",
                hint="Set it to the address villagers and inspectors reach this site at, "
                "e.g. https://fupin.example.gov.cn: it is printed on every document.",
                id="documents.E001",
            )
        ]
    if parts.hostname in LOOPBACK or parts.hostname.startswith("127."):
        return [
            checks.Warning(
                f"FUPIN_PUBLIC_URL is {url}: documents printed now will point to this "
                "machine only.",
                hint="Set FUPIN_PUBLIC_URL to the site's public address before issuing "
                "documents that leave the office.",
                id="documents.W001",
            )
        ]
    return []


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        checks.register(check_pdf_environment, "documents")
        checks.register(check_public_url, "documents")
