"""The ledger partitioned by county on PostgreSQL: one partition of ``audit_auditentry`` per
chain (a county's six-digit code, and the global chain), and a default partition for entries
of a chain that has none yet. A county's appends, its verification (``verify_audit --chain``)
and its searches touch its own partition only, and a county's history can be moved, archived
or dumped as one table. SQLite keeps one table.

The append-only triggers stay on the parent, from which PostgreSQL copies the row triggers
(no UPDATE, no DELETE) to every partition; TRUNCATE is refused by a trigger on each
partition too, since truncating a partition by its own name does not fire the parent's.

Partitions are made by the migration that partitions the ledger (for every chain on record
and every county), and for a new county by ``area_create`` before its first entry
(``partition_ensure``). An entry of a chain without a partition lands in the default one
and stays there: a partition is not made for a chain that already has entries in the
default (moving them would mean changing history's table behind its triggers)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connections

from audit import append_only

PARENT = "audit_auditentry"
DEFAULT = f"{PARENT}_default"
_CHAIN = re.compile(r"^[0-9]{6}$")
_INDEXES = (
    ("audit_object_idx", "object_type, object_id, seq"),
    ("audit_actor_idx", "actor_id, created_at"),
    ("audit_action_idx", "action, created_at"),
    ("audit_time_idx", "created_at"),
    ("audit_auditentry_actor_id_8ab278be", "actor_id"),
)


def partition_of(chain: str) -> str:
    """The partition's table name for a chain (six digits)."""
    if not _CHAIN.match(chain):
        raise ValueError(f"not a chain: {chain!r}")
    return f"{PARENT}_{chain}"


def is_partitioned(connection: Any) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [PARENT])
        row = cursor.fetchone()
    return bool(row and row[0] == "p")


def partitions(connection: Any) -> list[str]:
    """The ledger's partitions, by name (none on SQLite or before the migration)."""
    if not is_partitioned(connection):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1",
            [PARENT],
        )
        return [name for (name,) in cursor.fetchall()]


def partition_ensure(chain: str, *, using: str = "default") -> bool:
    """Make the chain's partition if the ledger is partitioned and the chain has none and
    no entries in the default partition; True when one was made. Inside the caller's
    transaction (the partition appears with the county that needs it)."""
    connection = connections[using]
    name = partition_of(chain)
    if not is_partitioned(connection) or name in partitions(connection):
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{DEFAULT}" WHERE chain = %s LIMIT 1', [chain])  # noqa: S608
        if cursor.fetchone() is not None:
            return False
        _partition_create(cursor, name, chain)
    return True


def _partition_create(cursor: Any, name: str, chain: str | None) -> None:
    bound = "DEFAULT" if chain is None else f"FOR VALUES IN ('{chain}')"
    cursor.execute(f'CREATE TABLE "{name}" PARTITION OF "{PARENT}" {bound}')
    cursor.execute(
        f'CREATE TRIGGER "{PARENT}_no_truncate" BEFORE TRUNCATE ON "{name}" '
        "FOR EACH STATEMENT EXECUTE FUNCTION fupin_append_only()"
    )


def ledger_partition(schema_editor: Any, apps: Any) -> None:
    """Migration: the one table becomes the partitioned ledger, with a partition for every
    chain on record, every county and the global chain, and the default; every row copied
    with its id; keys, indexes, the identity and the append-only triggers as before."""
    if schema_editor.connection.vendor != "postgresql" or is_partitioned(schema_editor.connection):
        return
    old = f"{PARENT}_unpartitioned"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{PARENT}" IN ACCESS EXCLUSIVE MODE')
        cursor.execute(f'ALTER TABLE "{PARENT}" RENAME TO "{old}"')
        cursor.execute(
            f'CREATE TABLE "{PARENT}" (LIKE "{old}" INCLUDING DEFAULTS) PARTITION BY LIST (chain)'
        )
        cursor.execute(f'SELECT DISTINCT chain FROM "{old}"')  # noqa: S608
        chains = {chain for (chain,) in cursor.fetchall()}
        Area = apps.get_model("applications", "Area")
        chains |= {
            code[:6] for code in Area.objects.filter(level="county").values_list("code", flat=True)
        }
        chains.add("000000")
        for chain in sorted(c for c in chains if _CHAIN.match(c)):
            _partition_create(cursor, partition_of(chain), chain)
        _partition_create(cursor, DEFAULT, None)
        cursor.execute(f'INSERT INTO "{PARENT}" SELECT * FROM "{old}" ORDER BY id')  # noqa: S608
        cursor.execute(f'DROP TABLE "{old}"')
        _keys_and_indexes(cursor, primary="id, chain")
    append_only.install(schema_editor, PARENT)


def ledger_unpartition(schema_editor: Any, apps: Any) -> None:
    """The migration backwards: one table again, every row copied with its id."""
    if not is_partitioned(schema_editor.connection):
        return
    old = f"{PARENT}_partitioned"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{PARENT}" IN ACCESS EXCLUSIVE MODE')
        cursor.execute(f'ALTER TABLE "{PARENT}" RENAME TO "{old}"')
        cursor.execute(f'CREATE TABLE "{PARENT}" (LIKE "{old}" INCLUDING DEFAULTS)')
        cursor.execute(f'INSERT INTO "{PARENT}" SELECT * FROM "{old}" ORDER BY id')  # noqa: S608
        cursor.execute(f'DROP TABLE "{old}" CASCADE')
        _keys_and_indexes(cursor, primary="id")
    append_only.install(schema_editor, PARENT)


def _keys_and_indexes(cursor: Any, *, primary: str) -> None:
    cursor.execute(f'ALTER TABLE "{PARENT}" ADD CONSTRAINT "{PARENT}_pkey" PRIMARY KEY ({primary})')
    cursor.execute(
        f'ALTER TABLE "{PARENT}" ADD CONSTRAINT audit_chain_seq_unique UNIQUE (chain, seq)'
    )
    for name, columns in _INDEXES:
        cursor.execute(f'CREATE INDEX "{name}" ON "{PARENT}" ({columns})')
    cursor.execute(
        f'ALTER TABLE "{PARENT}" ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY '
        f'(SEQUENCE NAME "{PARENT}_id_seq")'
    )
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{PARENT}"')  # noqa: S608
    (next_id,) = cursor.fetchone()
    cursor.execute("SELECT setval(%s, %s, false)", [f'"{PARENT}_id_seq"', next_id])
