"""``manage.py integrity_scan --county CODE``: run every cross-check rule over a county now,
as the system, and print what each rule found."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import NotFound
from crosscheck.services import scan_now


class Command(BaseCommand):
    help = "Run the inspectors' cross-checks over one county and keep the leads found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--county", required=True, help="the county's 6-digit code")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scan = scan_now(county=options["county"])
        except NotFound as error:
            raise CommandError(error.message) from None
        if scan.status != scan.Status.DONE:
            raise CommandError(f"scan {scan.pk} {scan.status}: {scan.error}")
        for rule, count in scan.counts.items():
            self.stdout.write(f"{rule:32} {count}")
        self.stdout.write(
            f"scan {scan.pk}: {scan.leads_found} leads ({scan.leads_new} new) "
            f"in {scan.duration_ms} ms"
        )
