"""The timers of the system, in one command for cron or ``--loop``. It lives in the top
layer because it drives lower ones: approvals (postings), documents (batches), the
cross-checks (scans), loans (the daily sweep of days past due) and the API tokens that
have expired."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from applications.imports import household_imports_recover
from applications.security import tokens_expired_delete
from approvals.services.transitions import postings_close_due
from common.health import TIMERS, heartbeat_record, worker_ping_send
from crosscheck.services import scans_recover
from documents.services.batches import document_batches_recover
from loans.services.servicing import loans_sweep
from workflows.services import tallies_refresh


class Command(BaseCommand):
    help = (
        "Close the public postings whose window has passed and that have no open objection, "
        "put the document batches, the inspectors' scans and the registry imports whose "
        "worker has stopped back in the queue (or fail them after too many attempts), count "
        "the dashboards' figures again, bring the loans' days past due and status up to "
        "today, and delete expired API tokens. Idempotent: safe to run every minute from "
        "cron, or with --loop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between runs")

    def handle(self, *args: Any, **opts: Any) -> None:
        while True:
            closed = postings_close_due()
            if closed or not opts["loop"]:
                self.stdout.write(f"closed {closed} posting(s)")
            batches = document_batches_recover()
            if batches.requeued or batches.failed or not opts["loop"]:
                self.stdout.write(
                    f"requeued {batches.requeued} document batch(es), "
                    f"failed {batches.failed} after too many attempts"
                )
            scans = scans_recover()
            if scans.requeued or scans.failed or not opts["loop"]:
                self.stdout.write(
                    f"requeued {scans.requeued} scan(s), "
                    f"failed {scans.failed} after too many attempts"
                )
            imports = household_imports_recover()
            if imports.requeued or imports.failed or not opts["loop"]:
                self.stdout.write(
                    f"requeued {imports.requeued} registry import(s), "
                    f"failed {imports.failed} after too many attempts"
                )
            counted = tallies_refresh()
            if not opts["loop"]:
                self.stdout.write(f"counted the dashboard of {counted} county(ies)")
            swept = loans_sweep()
            if swept or not opts["loop"]:
                self.stdout.write(f"updated {swept} loan(s) past due or back to current")
            expired = tokens_expired_delete()
            if expired or not opts["loop"]:
                self.stdout.write(f"deleted {expired} expired API token(s)")
            # Last: the heartbeat says a whole run got through (/healthz).
            worker_ping_send()
            heartbeat_record(TIMERS)
            if not opts["loop"]:
                return
            time.sleep(opts["interval"])
