from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.rendering import DOCUMENT_FONTS, document_fonts_build


class Command(BaseCommand):
    help = (
        "Build the document fonts (Noto CJK SC cut down to GB 2312) under var/fonts/. "
        "Does nothing for a font that exists, unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="rebuild even if they exist")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            built = document_fonts_build(force=opts["force"])
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        for font in DOCUMENT_FONTS:
            verb = "built" if font.path in built else "already built"
            self.stdout.write(f"{font.path}: {verb}")
