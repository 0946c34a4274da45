"""The triggers that keep ``BankCardHolders`` (how many households hold each bank card) in
step with the households' table, on SQLite and PostgreSQL alike: a household added counts
its card, one removed uncounts it, a card changed moves the count. Each runs inside the
writing statement's own transaction, so the count is never out of step, even when two
households are registered with the same card at once (on PostgreSQL the second waits on the
card's row). A card no household holds any longer has no row (or, after two households left
it at the same moment, a row of 0).

A change of card touches two rows; PostgreSQL touches the smaller hash first, so that two
changes between the same two cards in opposite directions, at once, wait for each other
instead of deadlocking. A writer of many households in one transaction (an import) takes
its cards' rows first, in the same order (``lock``), for the same reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

_SQLITE_COUNT = """
    INSERT OR IGNORE INTO applications_bankcardholders (card_hash, households)
    VALUES (NEW.bank_card_hash, 0);
    UPDATE applications_bankcardholders SET households = households + 1
    WHERE card_hash = NEW.bank_card_hash;
"""
_SQLITE_UNCOUNT = """
    UPDATE applications_bankcardholders SET households = households - 1
    WHERE card_hash = OLD.bank_card_hash;
    DELETE FROM applications_bankcardholders
    WHERE card_hash = OLD.bank_card_hash AND households <= 0;
"""
_SQLITE_TRIGGERS = (
    'CREATE TRIGGER "applications_household_card_added" AFTER INSERT ON applications_household '
    "BEGIN" + _SQLITE_COUNT + "END",
    'CREATE TRIGGER "applications_household_card_changed" '
    "AFTER UPDATE OF bank_card_hash ON applications_household "
    "WHEN OLD.bank_card_hash IS NOT NEW.bank_card_hash "
    "BEGIN" + _SQLITE_COUNT + _SQLITE_UNCOUNT + "END",
    'CREATE TRIGGER "applications_household_card_removed" AFTER DELETE ON applications_household '
    "BEGIN" + _SQLITE_UNCOUNT + "END",
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION fupin_bank_card_holders() RETURNS trigger AS $$
DECLARE
    added text := CASE WHEN TG_OP <> 'DELETE' THEN NEW.bank_card_hash END;
    removed text := CASE WHEN TG_OP <> 'INSERT' THEN OLD.bank_card_hash END;
    card text;
BEGIN
    IF added IS NOT DISTINCT FROM removed THEN
        RETURN NULL;
    END IF;
    FOR card IN
        SELECT c FROM unnest(ARRAY[added, removed]) AS c WHERE c IS NOT NULL ORDER BY c
    LOOP
        IF card = added THEN
            INSERT INTO applications_bankcardholders AS h (card_hash, households)
            VALUES (card, 1)
            ON CONFLICT (card_hash) DO UPDATE SET households = h.households + 1;
        ELSE
            DELETE FROM applications_bankcardholders
            WHERE card_hash = card AND households <= 1;
            IF NOT FOUND THEN
                UPDATE applications_bankcardholders SET households = households - 1
                WHERE card_hash = card;
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END; $$ LANGUAGE plpgsql
"""
_PG_TRIGGER = (
    'CREATE TRIGGER "applications_household_card_holders" '
    "AFTER INSERT OR DELETE OR UPDATE OF bank_card_hash ON applications_household "
    "FOR EACH ROW EXECUTE FUNCTION fupin_bank_card_holders()"
)
_COUNT_EXISTING = (
    "INSERT INTO applications_bankcardholders (card_hash, households) "
    "SELECT bank_card_hash, COUNT(*) FROM applications_household GROUP BY bank_card_hash"
)


_LOCK = """
INSERT INTO applications_bankcardholders AS h (card_hash, households)
SELECT card, 0 FROM unnest(%s::text[]) AS card ORDER BY card
ON CONFLICT (card_hash) DO UPDATE SET households = h.households
"""


def lock(card_hashes: Iterable[str]) -> None:
    """Take the rows of these cards, in the triggers' order (by hash), until the caller's
    transaction ends: a card no household holds yet gets a row of 0, which the households
    then written count. On PostgreSQL; SQLite writes one transaction at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK, [sorted(set(card_hashes))])


def install(schema_editor: Any) -> None:
    """The triggers, then the count of the households already there (on PostgreSQL with the
    households' table locked against writes until the migration commits)."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.execute("LOCK TABLE applications_household IN SHARE ROW EXCLUSIVE MODE")
        # params=None: a "%" in the body would otherwise be the driver's placeholder.
        schema_editor.execute(_PG_FUNCTION, None)
        schema_editor.execute(_PG_TRIGGER)
    else:
        raise NotImplementedError(f"bank card holders' triggers for {vendor}")
    schema_editor.execute(_COUNT_EXISTING)


def uninstall(schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for name in ("added", "changed", "removed"):
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "applications_household_card_{name}"')
    elif vendor == "postgresql":
        schema_editor.execute(
            'DROP TRIGGER IF EXISTS "applications_household_card_holders" ON applications_household'
        )
        schema_editor.execute("DROP FUNCTION IF EXISTS fupin_bank_card_holders()")
    schema_editor.execute("DELETE FROM applications_bankcardholders")
