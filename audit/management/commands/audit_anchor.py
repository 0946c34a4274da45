from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audit.anchors import anchor_file_append
from audit.services import audit_anchor_create


class Command(BaseCommand):
    help = (
        "Anchor the audit chains: append the head of every chain (chain, seq, hash, time) as "
        "a JSON line to a file outside the database and print the anchor's short text. Run "
        "it daily from cron; in production the file belongs somewhere the database "
        "administrator cannot rewrite (another machine, a write-once store), and the text "
        "goes to the inspectors (printed or sent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            type=Path,
            default=None,
            help="the anchor file to append to (default: the FUPIN_AUDIT_ANCHOR_FILE setting)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"] or Path(settings.FUPIN_AUDIT_ANCHOR_FILE)
        try:
            # The audit.anchor entry commits only once the anchor is safely in the file.
            with transaction.atomic():
                anchor = audit_anchor_create(actor=None)
                if not anchor.heads:
                    self.stderr.write("the ledger is empty: nothing to anchor")
                    return
                anchor_file_append(path=path, anchor=anchor)
        except OSError as error:
            raise CommandError(f"cannot append the anchor to {path}: {error}") from error
        self.stdout.write(anchor.text())
        self.stderr.write(f"anchor of {len(anchor.heads)} chains appended to {path}")
