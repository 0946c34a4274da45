from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from common.actors import person, person_or_none
from common.errors import Code, Forbidden


def test_person_is_the_signed_in_official() -> None:
    official = User(pk=3, username="cadre")

    assert person(official) is official
    assert person_or_none(official) is official


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_the_public_and_the_system_are_no_person(actor: AnonymousUser | None) -> None:
    assert person_or_none(actor) is None
    with pytest.raises(Forbidden) as refused:
        person(actor)
    assert refused.value.code == Code.ROLE
