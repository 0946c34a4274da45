import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from applications.integrity import ApplicationReplay
from audit.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the audit chains (hashes, links, heads) and replay every application's "
        "history against the database. Exits 1 naming the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", help="verify one county's chain (6-digit code)")
        parser.add_argument("--all-problems", action="store_true", help="list every problem")

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.perf_counter()
        replayers = [] if opts["chain"] else [ApplicationReplay()]
        report = ledger_verify(chain=opts["chain"], replayers=replayers)
        elapsed = time.perf_counter() - started
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"OK: {report.entries} entries in {report.chains} chains verified "
                    f"in {elapsed:.2f} s; every application matches its history."
                )
            )
            return
        shown = report.problems if opts["all_problems"] else report.problems[:1]
        for problem in shown:
            self.stderr.write(self.style.ERROR(f"FAILED: {problem}"))
        if len(report.problems) > len(shown):
            self.stderr.write(f"… and {len(report.problems) - len(shown)} more (--all-problems)")
        raise SystemExit(1)
