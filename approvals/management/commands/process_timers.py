import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from approvals.services import postings_close_due


class Command(BaseCommand):
    help = (
        "Close the public postings whose window has passed and that have no open objection. "
        "Idempotent: safe to run every minute from cron, or with --loop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between runs")

    def handle(self, *args: Any, **opts: Any) -> None:
        while True:
            closed = postings_close_due()
            if closed or not opts["loop"]:
                self.stdout.write(f"closed {closed} posting(s)")
            if not opts["loop"]:
                return
            time.sleep(opts["interval"])
