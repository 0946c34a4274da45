from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from operations.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup of `manage.py backup` into a new (or empty) database and an empty "
        "media directory, after checking every file against the manifest; then compare the "
        "chain heads and row counts with the manifest, migrate, and run verify_audit and "
        "verify_files against what was restored. Exits 2 when refused (nothing changed), 1 "
        "when the restore failed midway (what it made is removed) or a check of the restored "
        "site fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", type=Path, help="the backup's directory")
        parser.add_argument(
            "--database-url",
            default=None,
            help="the database to restore into (default: DATABASE_URL); it must be new or empty",
        )
        parser.add_argument(
            "--media-root",
            type=Path,
            default=None,
            help="where the stored files go (default: FUPIN_MEDIA_ROOT); it must be new or empty",
        )
        parser.add_argument(
            "--anchors",
            type=Path,
            default=None,
            help="anchors to verify the restored ledger against",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        url = opts["database_url"] or _configured_url()
        media_root = opts["media_root"] or Path(settings.MEDIA_ROOT)
        try:
            restored = backup_restore(
                opts["backup"], database_url=url, media_root=media_root, anchors=opts["anchors"]
            )
        except BackupError as error:
            if error.refused:
                self.stderr.write(self.style.ERROR(f"restore refused ({error.code}): {error}"))
                raise SystemExit(2) from error
            self.stderr.write(
                self.style.ERROR(
                    f"restore failed ({error.code}): {error}; the database and files it had "
                    "made are removed again"
                )
            )
            raise SystemExit(1) from error
        self.stdout.write(
            f"restored {opts['backup']} into database {restored.database} and "
            f"{restored.files} files into {restored.media_root} in {restored.seconds:.1f} s"
        )
        for label, ok, output in restored.checks:
            line = f"{label}: {'OK' if ok else 'FAILED'}"
            last = output.strip().splitlines()[-1] if output.strip() else ""
            self.stdout.write(
                (self.style.SUCCESS if ok else self.style.ERROR)(f"{line} {last}".rstrip())
            )
        if not restored.ok:
            raise SystemExit(1)


def _configured_url() -> str:
    import os

    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{settings.DATABASES['default']['NAME']}"
