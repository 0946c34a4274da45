"""Where a round or a sample is drawn: a county or a township where the actor holds the role,
and a program of that county."""

from __future__ import annotations

from django.utils.translation import gettext as _

from applications.models import Area, Program
from applications.selectors import has_role_in
from common.actors import Actor
from common.errors import Forbidden, InvalidInput


def program_and_area(
    *, actor: Actor, program_id: int, area_code: str, role: str, refusal: str
) -> tuple[Program, Area]:
    """The program and the county or township, or ``InvalidInput`` (no such area or program
    there) or ``Forbidden`` with ``refusal`` (the actor lacks ``role`` there)."""
    area = Area.objects.filter(code=area_code).first()
    if area is None or area.level not in (Area.Level.COUNTY, Area.Level.TOWNSHIP):
        raise InvalidInput({"area": [_("Choose a county or a township.")]})
    if not has_role_in(actor, role, area.code):
        raise Forbidden(refusal)
    program = Program.objects.filter(pk=program_id, area_id=area.county_code).first()
    if program is None:
        raise InvalidInput({"program": [_("No such program in this county.")]})
    return program, area
