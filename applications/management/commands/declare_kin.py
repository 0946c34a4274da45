from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from applications.models import KinDeclaration
from applications.services import kin_declare
from common.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Record an official's declaration (亲属备案) of their own ID number (relation 'self') "
        "or a close relative's. Open applications of the official's areas whose household "
        "includes the person are flagged and the official is recused from them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the official")
        parser.add_argument("relation", choices=KinDeclaration.Relation.values)
        parser.add_argument("name", help="the person's name")
        parser.add_argument("id_number", help="the person's 18-character resident ID number")

    def handle(self, *args: Any, **opts: Any) -> None:
        official = get_user_model().objects.filter(username=opts["username"]).first()
        if official is None:
            raise CommandError(f"no user named {opts['username']}")
        try:
            declaration = kin_declare(
                actor=None,
                official_id=official.pk,
                relation=opts["relation"],
                name=opts["name"],
                id_number=opts["id_number"],
            )
        except ServiceError as exc:
            messages = exc.as_dict().values()
            raise CommandError("; ".join(m for msgs in messages for m in msgs)) from exc
        flagged = declaration.flags.count()
        self.stdout.write(
            f"{official.get_username()}: {declaration.relation} {declaration.id_masked} declared"
            f"; {flagged} open application(s) flagged"
        )
