import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.anchors import Anchor, AnchorFormatError, anchors_parse
from inspection.services import ledger_check


def _read_anchors(path: Path) -> list[Anchor]:
    try:
        return anchors_parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read the anchors in {path}: {error}") from error
    except AnchorFormatError as error:
        raise CommandError(f"{path}: {error}") from error


class Command(BaseCommand):
    help = (
        "Verify the audit chains (hashes, links, heads) and replay every application's "
        "history against the database; with --anchors, check the chains against anchors "
        "kept outside the database. Exits 1 naming the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", help="verify one county's chain (6-digit code)")
        parser.add_argument("--all-problems", action="store_true", help="list every problem")
        parser.add_argument(
            "--anchors",
            type=Path,
            metavar="FILE",
            help="anchors (JSON lines of `audit_anchor`, or their printed text) to check against",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        anchors = _read_anchors(opts["anchors"]) if opts["anchors"] else []
        started = time.perf_counter()
        # A chain alone is checked without the replays, as this command always did (the
        # page's check of a county replays, hearing of that county's problems only).
        report = ledger_check(chain=opts["chain"], anchors=anchors, replay=not opts["chain"])
        elapsed = time.perf_counter() - started
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"OK: {report.entries} entries in {report.chains} chains verified "
                    f"in {elapsed:.2f} s; every application matches its history."
                )
            )
            if anchors:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"OK: {len(report.anchor_checks)} chain heads of {len(anchors)} "
                        "anchors match the ledger."
                    )
                )
            return
        shown = report.problems if opts["all_problems"] else report.problems[:1]
        for problem in shown:
            self.stderr.write(self.style.ERROR(f"FAILED: {problem}"))
        if len(report.problems) > len(shown):
            self.stderr.write(f"… and {len(report.problems) - len(shown)} more (--all-problems)")
        raise SystemExit(1)
