"""``BankCardHolders``, kept by the database's triggers (``applications.card_holders``): the
count of each card's households follows every way of writing a household, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count

from applications import card_holders
from applications.idnumbers import lookup_hash
from applications.models import BankCardHolders, Household
from applications.roles import Role
from applications.services import household_update
from audit.models import AuditEntry
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    SchemaExecutor,
    World,
    bank_card_number,
    race,
)

pytestmark = pytest.mark.django_db


def counted() -> dict[str, int]:
    return dict(BankCardHolders.objects.values_list("card_hash", "households"))


def recounted() -> dict[str, int]:
    """What the count must be: every household's card, counted now."""
    return dict(
        Household.objects.values("bank_card_hash")
        .annotate(n=Count("pk"))
        .values_list("bank_card_hash", "n")
    )


def test_the_count_follows_registrations_card_changes_and_removals(world: World) -> None:
    card, other = bank_card_number(), bank_card_number()
    first = world.household(VILLAGE_1, bank_card=card)
    second = world.household(VILLAGE_2, bank_card=card)
    third = world.household(VILLAGE_1, bank_card=other)
    assert counted()[lookup_hash(card)] == 2 and counted()[lookup_hash(other)] == 1

    household_update(
        actor=world.actor(Role.VILLAGE_CADRE, VILLAGE_2), household_id=second.pk, bank_card=other
    )
    assert counted()[lookup_hash(card)] == 1 and counted()[lookup_hash(other)] == 2

    # Writes that bypass the services are counted too.
    Household.objects.filter(pk=third.pk).update(bank_card_hash=first.bank_card_hash)
    Household.objects.filter(pk=first.pk).update(head_name="王改名")  # not the card: no change
    assert counted()[lookup_hash(card)] == 2 and counted()[lookup_hash(other)] == 1
    Household.objects.filter(pk__in=[second.pk]).delete()
    assert lookup_hash(other) not in counted()  # no household holds it any longer

    assert counted() == recounted()
    assert set(BankCardHolders.shared().values_list("card_hash", flat=True)) == {lookup_hash(card)}


def test_installing_counts_the_households_already_there(world: World) -> None:
    card = bank_card_number()
    for area in (VILLAGE_1, VILLAGE_2, VILLAGE_1):
        world.household(area, bank_card=card)
    world.household(VILLAGE_1)
    card_holders.uninstall(SchemaExecutor())
    world.household(VILLAGE_2, bank_card=card)  # no trigger: not counted
    assert counted() == {}

    card_holders.install(SchemaExecutor())

    assert counted() == recounted() and counted()[lookup_hash(card)] == 4
    world.household(VILLAGE_2, bank_card=card)  # the triggers are back
    assert counted()[lookup_hash(card)] == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_two_households_registered_with_one_card_at_once_are_counted_and_flagged(
    world: World,
) -> None:
    card = bank_card_number()

    outcomes = race(
        lambda: world.household(VILLAGE_1, bank_card=card),
        lambda: world.household(VILLAGE_2, bank_card=card),
    )

    assert outcomes == ["ok", "ok"]
    assert counted()[lookup_hash(card)] == 2
    # The second to commit waited on the card's row and saw the first: on the record.
    assert AuditEntry.objects.filter(action="household.shared_card").count() == 1


@pytest.mark.postgres
def test_an_import_takes_its_cards_rows_first_without_changing_their_counts(world: World) -> None:
    held = bank_card_number()
    world.household(VILLAGE_1, bank_card=held)
    new = lookup_hash(bank_card_number())

    card_holders.lock([new, lookup_hash(held), new])

    assert counted()[lookup_hash(held)] == 1 and counted()[new] == 0
    assert counted() == {**recounted(), new: 0}
    assert new not in set(BankCardHolders.shared().values_list("card_hash", flat=True))


class _OtherDatabase(SchemaExecutor):
    """A database the triggers are not written for."""

    class connection:  # noqa: N801 - what a schema editor names it
        vendor = "oracle"

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, sql: str, params: Any = ()) -> None:
        self.executed.append(sql)


def test_installing_on_another_database_is_refused_before_any_statement() -> None:
    other = _OtherDatabase()

    with pytest.raises(NotImplementedError, match="oracle"):
        card_holders.install(other)

    assert other.executed == []


def test_a_cards_row_reads_as_its_hash_and_its_households() -> None:
    row = BankCardHolders(card_hash="ab" * 32, households=3)

    assert str(row) == f"{'ab' * 8}…: 3"


def test_uninstalling_on_another_database_only_empties_the_count() -> None:
    other = _OtherDatabase()

    card_holders.uninstall(other)

    assert other.executed == ["DELETE FROM applications_bankcardholders"]
