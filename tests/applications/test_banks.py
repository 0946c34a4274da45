"""Banks and their loan officers (issue 12): the ``bank_officer`` role is granted on a county
for one bank, and opens nothing of the area's registry or applications by itself (a bank
officer sees their bank's loans only)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from applications.models import Bank, BankOfficer
from applications.selectors import (
    applications_visible_to,
    bank_posts_of,
    households_visible_to,
    scope_prefixes,
)
from applications.services import bank_create, role_grant
from audit.models import AuditEntry
from common.errors import InvalidInput
from tests.factories import COUNTY, TOWNSHIP_1, World

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank() -> Bank:
    return bank_create(actor=None, code="gsnx-suzhou", name="甘肃农信肃州区联社")


def test_a_bank_is_created_once_on_the_record(bank: Bank) -> None:
    with pytest.raises(InvalidInput) as twice:
        bank_create(actor=None, code="gsnx-suzhou", name="另一家")

    assert "code" in twice.value.errors
    assert AuditEntry.objects.filter(action="bank.create", object_id="gsnx-suzhou").count() == 1


def test_a_bank_officer_is_granted_on_a_county_for_one_bank(world: World, bank: Bank) -> None:
    world.application()  # something in the area to (not) see

    user, granted = role_grant(
        actor=None, username="xindai", role="bank_officer", area_code=COUNTY, bank_code=bank.code
    )

    assert granted
    assert bank_posts_of(user) == [(bank.pk, COUNTY)]
    assert not applications_visible_to(user).exists()
    assert not households_visible_to(user).exists()
    assert scope_prefixes(user) == [] and scope_prefixes(user, ["bank_officer"]) == [COUNTY[:6]]
    entry = AuditEntry.objects.get(action="role.grant", object_id=str(user.pk))
    assert entry.changes["bank"] == [None, bank.code]


def test_the_bank_officer_sees_nothing_of_the_registry_through_the_api(
    world: World, bank: Bank
) -> None:
    world.application()
    officer, _granted = role_grant(
        actor=None, username="xindai", role="bank_officer", area_code=COUNTY, bank_code=bank.code
    )

    client = APIClient()
    client.force_authenticate(officer)

    assert client.get("/api/v1/applications/").json()["count"] == 0
    assert client.get("/api/v1/households/").json()["count"] == 0


@pytest.mark.parametrize(
    ("role", "area", "bank_code", "field"),
    [
        ("bank_officer", COUNTY, "", "bank"),
        ("bank_officer", COUNTY, "no-such-bank", "bank"),
        ("bank_officer", TOWNSHIP_1, "gsnx-suzhou", "area"),
        ("finance_officer", COUNTY, "gsnx-suzhou", "bank"),
    ],
)
def test_a_bank_post_needs_a_known_bank_on_a_county(
    world: World, bank: Bank, role: str, area: str, bank_code: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        role_grant(actor=None, username="xindai", role=role, area_code=area, bank_code=bank_code)

    assert field in refused.value.errors
    assert not BankOfficer.objects.exists()


def test_grant_role_takes_the_bank(world: World, bank: Bank) -> None:
    call_command("grant_role", "xindai", "bank_officer", COUNTY, "--bank", bank.code)

    with pytest.raises(CommandError):
        call_command("grant_role", "xindai2", "bank_officer", COUNTY)
    assert BankOfficer.objects.get().bank == bank
