"""The database itself refuses to change history: UPDATE and DELETE on the audit table (and
on decisions) abort, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from approvals.models import Decision
from audit.append_only import MESSAGE
from audit.models import AuditEntry
from tests.factories import World

pytestmark = pytest.mark.django_db


def _entry() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    return entry


def test_audit_entry_update_refused_by_database(world: World) -> None:
    entry = _entry()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="nothing happened")

    entry.refresh_from_db()
    assert entry.reason != "nothing happened"


def test_audit_entry_save_refused_by_database(world: World) -> None:
    entry = _entry()
    entry.actor_name = "someone else"

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        entry.save()

    entry.refresh_from_db()
    assert entry.actor_name != "someone else"


def test_audit_entry_delete_refused_by_database(world: World) -> None:
    entry = _entry()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_audit_entry_raw_sql_update_refused(world: World) -> None:
    entry = _entry()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditentry SET hash = %s WHERE id = %s", ["0" * 64, entry.pk]
            )

    entry.refresh_from_db()
    assert entry.hash != "0" * 64


def test_audit_entry_raw_sql_delete_all_refused(world: World) -> None:
    count = AuditEntry.objects.count()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditentry")

    assert AuditEntry.objects.count() == count


def test_decision_update_refused_by_database(world: World) -> None:
    app = world.application("submitted")
    decision = Decision.objects.get(application=app)

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(reason="backdated")

    decision.refresh_from_db()
    assert decision.reason == ""


def test_decision_delete_refused_by_database(world: World) -> None:
    app = world.application("submitted")

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        Decision.objects.filter(application=app).delete()

    assert Decision.objects.filter(application=app).count() == 1


def test_audit_entry_insert_allowed(world: World) -> None:
    before = AuditEntry.objects.count()

    world.household()

    assert AuditEntry.objects.count() == before + 1


@pytest.mark.postgres
def test_audit_table_truncate_refused_on_postgres(world: World) -> None:
    count = AuditEntry.objects.count()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditentry")

    assert AuditEntry.objects.count() == count
