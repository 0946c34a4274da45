from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from operations.files import stored_files_check


class Command(BaseCommand):
    help = (
        "Check every issued document and attachment on disk against the size and SHA-256 "
        "the database holds for it. Exits 1 naming the first problem (--all-problems: every one)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all-problems", action="store_true", help="list every problem")

    def handle(self, *args: Any, **opts: Any) -> None:
        report = stored_files_check()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(f"OK: {report.checked} stored files match their hashes.")
            )
            return
        shown = report.problems if opts["all_problems"] else report.problems[:1]
        for problem in shown:
            self.stderr.write(self.style.ERROR(f"FAILED: {problem}"))
        if len(report.problems) > len(shown):
            self.stderr.write(f"… and {len(report.problems) - len(shown)} more (--all-problems)")
        raise SystemExit(1)
