"""The ledger partitioned by county (``audit.partitions``, PostgreSQL): each county appends to
its own partition, a new county gets one before its first entry, history is refused changes
through the parent and through every partition by name, a county's verification reads its
partition alone, and the migration that partitions it keeps every entry, both ways. SQLite
keeps one table."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from applications.services import area_create
from audit import partitions
from audit.append_only import MESSAGE
from audit.models import AuditEntry
from audit.services import audit_record
from audit.verify import _batch_query
from tests.factories import COUNTY, COUNTY_B, VILLAGE_1, World

pytestmark = pytest.mark.django_db


def _partition_holding(entry: AuditEntry) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM audit_auditentry WHERE id = %s", [entry.pk]
        )
        (name,) = cursor.fetchone()
    return str(name)


def _record(area_code: str) -> AuditEntry:
    with transaction.atomic():
        return audit_record(
            actor=None, action="test.partition", object_type="test", area_code=area_code
        )


@pytest.mark.postgres
def test_each_county_appends_to_its_own_partition(world: World) -> None:
    here, there = _record(VILLAGE_1), _record(COUNTY_B)

    assert _partition_holding(here) == "audit_auditentry_620902"
    assert _partition_holding(there) == "audit_auditentry_620903"
    assert {"audit_auditentry_000000", "audit_auditentry_default"} <= set(
        partitions.partitions(connection)
    )


@pytest.mark.postgres
def test_a_new_county_gets_its_partition_before_its_first_entry(world: World) -> None:
    area_create(code="620921000000", name="金塔县")

    assert "audit_auditentry_620921" in partitions.partitions(connection)
    created = AuditEntry.objects.get(action="area.create", object_id="620921000000")
    assert _partition_holding(created) == "audit_auditentry_620921"


@pytest.mark.postgres
def test_a_chain_already_in_the_default_partition_is_left_there(world: World) -> None:
    stray = _record("620998100200")  # no county 620998 on record: the default partition
    assert _partition_holding(stray) == "audit_auditentry_default"

    assert partitions.partition_ensure("620998") is False

    assert "audit_auditentry_620998" not in partitions.partitions(connection)
    assert _partition_holding(stray) == "audit_auditentry_default"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET reason = 'forged'",
        "DELETE FROM audit_auditentry WHERE chain = '620902'",
        "UPDATE audit_auditentry_620902 SET reason = 'forged'",
        "DELETE FROM audit_auditentry_620902",
        "TRUNCATE audit_auditentry_620902",
        "TRUNCATE audit_auditentry_default",
        "TRUNCATE audit_auditentry",
    ],
)
def test_history_is_refused_changes_through_the_parent_and_every_partition(
    world: World, sql: str
) -> None:
    before = AuditEntry.objects.count()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)

    assert AuditEntry.objects.count() == before > 0


@pytest.mark.postgres
def test_a_countys_verification_reads_its_partition_alone(world: World) -> None:
    _record(COUNTY_B)

    plan = AuditEntry.objects.filter(chain=COUNTY[:6]).order_by("seq").explain()

    assert "audit_auditentry_620902" in plan
    assert "audit_auditentry_620903" not in plan
    call_command("verify_audit", "--chain", COUNTY[:6])


@pytest.mark.postgres
def test_a_verification_batch_reads_one_partitions_index_in_order(world: World) -> None:
    # Each batch of verify_audit is one range of one partition's (chain, seq) index, read in
    # its order: nothing sorted, no other partition. One keyset over the whole ledger,
    # (chain, seq) > (…, …), was planned as a sort of every entry left, at every batch
    # (PostgreSQL estimates a row comparison from its first column alone). Sequential and
    # bitmap scans, which a tiny partition favours and which read out of order, are off so
    # that the test's partitions plan as a county's large ones do.
    _record(COUNTY_B)
    sql, params = _batch_query(connection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, [*params, COUNTY[:6], 1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The plan's nodes: "Limit", "Index Scan using … on …", never "Sort" or "Merge Append".
    nodes = [
        line.strip().removeprefix("->").strip().split("  (")[0]
        for line in plan.splitlines()
        if "(cost=" in line
    ]

    assert "audit_auditentry_620902" in plan
    assert "audit_auditentry_620903" not in plan and "audit_auditentry_default" not in plan
    assert not [n for n in nodes if n.endswith("Sort") or n.startswith("Merge Append")], plan
    assert any(n.startswith("Index Scan") for n in nodes), plan


@pytest.mark.postgres
def test_the_migration_keeps_every_entry_both_ways(world: World) -> None:
    _record(COUNTY_B)
    entries = list(AuditEntry.objects.order_by("id").values_list("id", "chain", "seq", "hash"))

    with connection.schema_editor(atomic=False) as editor:
        partitions.ledger_unpartition(editor, apps)
    assert not partitions.is_partitioned(connection)
    assert (
        list(AuditEntry.objects.order_by("id").values_list("id", "chain", "seq", "hash")) == entries
    )
    with connection.schema_editor(atomic=False) as editor:
        partitions.ledger_partition(editor, apps)

    assert partitions.is_partitioned(connection)
    assert (
        list(AuditEntry.objects.order_by("id").values_list("id", "chain", "seq", "hash")) == entries
    )
    next_entry = _record(VILLAGE_1)
    assert next_entry.pk == entries[-1][0] + 1
    call_command("verify_audit")


def test_sqlite_keeps_one_table(world: World) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default only")

    assert partitions.partitions(connection) == []
    assert partitions.partition_ensure(COUNTY[:6]) is False
    assert partitions.is_partitioned(connection) is False


def test_a_chain_is_six_digits() -> None:
    with pytest.raises(ValueError, match="not a chain"):
        partitions.partition_of("620902'; DROP TABLE x; --")
