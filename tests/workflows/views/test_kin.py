"""The officials' page of kin declarations (``workflows.views.kin``)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from applications.models import KinDeclaration, KinFlag
from audit.models import AuditEntry
from tests.factories import VILLAGE_1, World, declare_kin, id_number, with_wrong_check_digit

pytestmark = pytest.mark.django_db
KIN = reverse("workflows:kin")


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def test_kin_page_declares_and_flags(world: World) -> None:
    relative = id_number()
    app = world.application(
        "township_review", household=world.household(VILLAGE_1, head_id_number=relative)
    )
    client = client_for(world, "reviewer_t1")

    response = client.post(KIN, {"relation": "sibling", "name": "王兄", "id_number": relative})

    assert response.status_code == 302
    declaration = KinDeclaration.objects.get(official__username="reviewer_t1")
    assert KinFlag.objects.filter(application=app, declaration=declaration).exists()
    page = client.get(KIN)
    assert declaration.id_masked in page.content.decode()
    assert relative not in page.content.decode()


def test_kin_page_shows_only_ones_own_declarations(world: World) -> None:
    theirs = declare_kin(official=world.user("cadre_v2"), relation="spouse", id_number=id_number())

    page = client_for(world, "cadre_v1").get(KIN)

    assert page.context["declarations"] == []
    assert theirs.id_masked not in page.content.decode()


def test_kin_page_bad_number_is_a_field_error_and_records_nothing(world: World) -> None:
    entries = AuditEntry.objects.count()

    response = client_for(world, "cadre_v1").post(
        KIN,
        {"relation": "spouse", "name": "李秀英", "id_number": with_wrong_check_digit(id_number())},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["id_number"]
    assert not KinDeclaration.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_kin_page_needs_a_role(world: World) -> None:
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("nobody", password="x-2016-pass")
    client = Client()
    client.force_login(nobody)

    assert client.get(KIN).status_code == 403
