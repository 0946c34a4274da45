from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump, custom format; SQLite's online backup on the embedded "
        "default) and every stored file, with a manifest of SHA-256 hashes, into a new "
        "directory under FUPIN_BACKUP_DIR (or --to). Safe while the site runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", type=Path, default=None, help="the directory to write under")
        parser.add_argument(
            "--keep", type=int, default=None, help="then keep only the newest N backups there"
        )
        parser.add_argument("--quiet", action="store_true", help="print nothing when it works")

    def handle(self, *args: Any, **opts: Any) -> None:
        root: Path = opts["to"] or Path(settings.FUPIN_BACKUP_DIR)
        if opts["keep"] is not None and opts["keep"] < 1:
            raise CommandError("--keep must be 1 or more")
        try:
            made = backup_create(root, keep=opts["keep"])
        except BackupError as error:
            raise CommandError(f"backup failed ({error.code}): {error}") from error
        except OSError as error:
            raise CommandError(f"backup failed: {error}") from error
        if opts["quiet"]:
            return
        self.stdout.write(
            f"backed up to {made.path}: the database and {made.files} files, "
            f"{made.bytes / 1e6:.1f} MB in {made.seconds:.1f} s"
        )
        self.stdout.write(f"manifest SHA-256 {made.manifest_sha256}")
        for old in made.pruned:
            self.stdout.write(f"removed the older backup {old}")
