from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from applications.roles import REVEAL_PERMISSION, Role
from applications.services import role_grant
from common.errors import InvalidInput


class Command(BaseCommand):
    help = "Create the user if needed and grant a role on an area."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", choices=[*Role.values, REVEAL_PERMISSION])
        parser.add_argument("area_code")
        parser.add_argument("--password", default=None)
        parser.add_argument("--bank", default="", help="the bank's code (bank_officer only)")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            user, granted = role_grant(
                actor=None,
                username=opts["username"],
                role=opts["role"],
                area_code=opts["area_code"],
                password=opts["password"],
                bank_code=opts["bank"],
            )
        except InvalidInput as exc:
            raise CommandError("; ".join(m for msgs in exc.errors.values() for m in msgs)) from exc
        verb = "granted" if granted else "already held"
        self.stdout.write(f"{user.get_username()}: {opts['role']} on {opts['area_code']} {verb}")
