"""``manage.py declare_kin USERNAME RELATION NAME ID_NUMBER``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from applications.models import Application, KinDeclaration, KinFlag
from audit.models import AuditEntry
from tests.factories import VILLAGE_1, World, id_number, with_wrong_check_digit

pytestmark = pytest.mark.django_db


def declare(*args: str) -> str:
    out = io.StringIO()
    call_command("declare_kin", *args, stdout=out)
    return out.getvalue()


def test_declare_kin_records_and_flags(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    app = world.application(Application.Status.DRAFT, household=household)

    output = declare("reviewer_t1", "sibling", "王兄", relative)

    declaration = KinDeclaration.objects.get(official__username="reviewer_t1")
    assert declaration.relation == "sibling"
    assert KinFlag.objects.filter(application=app, declaration=declaration).exists()
    assert "1 open application" in output
    assert relative not in output
    entry = AuditEntry.objects.get(action="kin.declare")
    assert entry.actor_name == "system"


def test_declare_kin_unknown_user_fails(world: World) -> None:
    with pytest.raises(CommandError):
        declare("nobody_here", "spouse", "李秀英", id_number())


def test_declare_kin_bad_number_fails_and_stores_nothing(world: World) -> None:
    with pytest.raises(CommandError):
        declare("cadre_v1", "spouse", "李秀英", with_wrong_check_digit(id_number()))
    assert not KinDeclaration.objects.exists()
