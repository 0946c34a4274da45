"""``manage.py verify_audit`` against an attacker with rights on the database: an entry
altered, deleted or inserted, an application's amount or status changed by direct SQL.
Each exits non-zero naming the problem; an intact ledger exits 0."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from applications.models import Application
from audit.hashing import entry_hash
from audit.models import AuditEntry
from audit.verify import ledger_verify
from tests.factories import VILLAGE_B, World

Bypass = Callable[[], AbstractContextManager[None]]
pytestmark = pytest.mark.django_db

HASHED = (
    "chain",
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "area_code",
    "from_state",
    "to_state",
    "changes",
    "reason",
    "prev_hash",
)


def verify(*args: str) -> tuple[int, str, str]:
    """Run the command; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    else:
        code = 0
    return code, out.getvalue(), err.getvalue()


def _sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _entry_of(app: Application, action: str) -> AuditEntry:
    return AuditEntry.objects.get(object_type="application", object_id=str(app.pk), action=action)


@pytest.fixture
def history(world: World) -> Application:
    """An application paid out, and a second county with its own history."""
    world.application("draft", area_code=VILLAGE_B)
    return world.application("disbursed")


def test_verify_audit_intact_ledger_exits_zero(history: Application) -> None:
    code, out, err = verify()

    assert code == 0, err
    assert "OK" in out
    assert err == ""


def test_verify_audit_altered_entry_named(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entry = _entry_of(history, "application.county_approve")
    with append_only_bypassed():
        _sql("UPDATE audit_auditentry SET actor_name = %s WHERE id = %s", ["nobody", entry.pk])

    code, _out, err = verify()

    assert code == 1
    assert "altered" in err
    assert f"chain {entry.chain} entry #{entry.seq} (id {entry.pk})" in err


def test_verify_audit_altered_changes_named(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entry = _entry_of(history, "application.create")
    forged = dict(entry.changes) | {"amount": [None, "4999.00"]}
    with append_only_bypassed():
        AuditEntry.objects.filter(pk=entry.pk).update(changes=forged)

    code, _out, err = verify()

    assert code == 1
    assert "altered" in err
    assert f"#{entry.seq}" in err


def test_verify_audit_altered_entry_with_recomputed_hash_named(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entry = _entry_of(history, "application.township_approve")
    fields = {name: getattr(entry, name) for name in HASHED} | {"actor_name": "approver_a"}
    with append_only_bypassed():
        AuditEntry.objects.filter(pk=entry.pk).update(
            actor_name="approver_a", hash=entry_hash(**fields)
        )
    following = AuditEntry.objects.get(chain=entry.chain, seq=entry.seq + 1)

    code, _out, err = verify()

    assert code == 1
    assert "broken link" in err
    assert f"#{following.seq}" in err


def test_verify_audit_deleted_entry_named(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entry = _entry_of(history, "application.township_approve")
    with append_only_bypassed():
        _sql("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])

    code, _out, err = verify()

    assert code == 1
    assert "gap" in err
    assert f"expected #{entry.seq}, found #{entry.seq + 1}" in err


def test_verify_audit_deleted_last_entry_named(
    history: Application, append_only_bypassed: Bypass
) -> None:
    last = AuditEntry.objects.filter(chain="620902").latest("seq")
    with append_only_bypassed():
        _sql("DELETE FROM audit_auditentry WHERE id = %s", [last.pk])

    code, _out, err = verify()

    assert code == 1
    assert "head mismatch" in err
    assert "chain 620902" in err


def test_verify_audit_inserted_entry_named(history: Application) -> None:
    last = AuditEntry.objects.filter(chain="620902").latest("seq")
    fields = {name: getattr(last, name) for name in HASHED} | {
        "seq": last.seq + 1,
        "created_at": last.created_at + timedelta(seconds=1),
        "action": "application.disburse",
        "reason": "paid twice",
        "prev_hash": last.hash,
    }
    # Inserted behind the ledger's back: valid hash, valid link, but no chain head update.
    AuditEntry.objects.create(**fields, hash=entry_hash(**fields))

    code, _out, err = verify()

    assert code == 1
    assert "head mismatch" in err
    assert f"#{last.seq + 1}" in err


def test_verify_audit_inserted_entry_with_bad_link_named(history: Application) -> None:
    last = AuditEntry.objects.filter(chain="620902").latest("seq")
    fields = {name: getattr(last, name) for name in HASHED} | {
        "seq": last.seq + 1,
        "prev_hash": "f" * 64,
    }
    forged = AuditEntry.objects.create(**fields, hash=entry_hash(**fields))

    code, _out, err = verify()

    assert code == 1
    assert "broken link" in err
    assert f"(id {forged.pk})" in err


def test_verify_audit_amount_changed_by_sql_named(history: Application) -> None:
    _sql("UPDATE applications_application SET amount = %s WHERE id = %s", ["4999.00", history.pk])

    code, _out, err = verify()

    assert code == 1
    assert "database differs" in err
    assert f"application {history.pk} has amount 4999.00" in err


def test_verify_audit_status_changed_by_sql_named(world: World) -> None:
    app = world.application("county_review")
    _sql("UPDATE applications_application SET status = %s WHERE id = %s", ["approved", app.pk])

    code, _out, err = verify()

    assert code == 1
    assert f"application {app.pk} is 'approved' in the database" in err


def test_verify_audit_unrecorded_application_named(history: Application) -> None:
    twin = Application.objects.create(
        household=history.household,
        program=history.program,
        program_version=history.program_version,
        area_code=history.area_code,
        amount=history.amount,
        created_by=history.created_by,
    )

    code, _out, err = verify()

    assert code == 1
    assert f"application {twin.pk} has no audit history" in err


def test_verify_audit_one_chain_ignores_other_county(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entry = AuditEntry.objects.filter(chain="620903").latest("seq")
    with append_only_bypassed():
        _sql("UPDATE audit_auditentry SET reason = %s WHERE id = %s", ["forged", entry.pk])

    assert verify("--chain", "620902")[0] == 0
    assert verify("--chain", "620903")[0] == 1


def test_ledger_verify_reports_every_problem(
    history: Application, append_only_bypassed: Bypass
) -> None:
    entries = list(AuditEntry.objects.filter(chain="620902").order_by("seq")[:2])
    with append_only_bypassed():
        for entry in entries:
            _sql("UPDATE audit_auditentry SET reason = %s WHERE id = %s", ["forged", entry.pk])

    report = ledger_verify()

    altered = [p.entry_id for p in report.problems if p.kind == "altered"]
    assert altered == [e.pk for e in entries]


def test_ledger_verify_reads_across_batches(
    history: Application, append_only_bypassed: Bypass, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify.BATCH", 3)
    entries = list(AuditEntry.objects.order_by("chain", "seq"))
    clean = ledger_verify()
    victim = entries[len(entries) // 2]
    with append_only_bypassed():
        _sql("UPDATE audit_auditentry SET reason = %s WHERE id = %s", ["forged", victim.pk])

    report = ledger_verify()

    assert clean.ok and clean.entries == len(entries)
    assert [(p.kind, p.entry_id) for p in report.problems] == [("altered", victim.pk)]


def test_ledger_verify_one_chain_across_batches(
    history: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify.BATCH", 2)

    report = ledger_verify(chain="620902")

    assert report.ok
    assert report.chains == 1
    assert report.entries == AuditEntry.objects.filter(chain="620902").count()
