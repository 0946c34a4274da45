"""``manage.py verify_audit`` (``inspection/management/commands/verify_audit.py``) against an
attacker with rights on the database: an entry altered, deleted or inserted, an
application's amount or status changed by direct SQL, the end of a chain rewritten with its
head (caught by ``--anchors``). Each exits non-zero naming the problem; an intact ledger
exits 0."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from applications.models import Application
from audit.hashing import HASHED_FIELDS as HASHED
from audit.hashing import entry_hash
from audit.models import AuditEntry
from tests.audit.test_anchors import rewrite_tail, run
from tests.factories import VILLAGE_B, World

Bypass = Callable[[], AbstractContextManager[None]]
pytestmark = pytest.mark.django_db


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


# --- against anchors kept outside the database -------------------------------------------------


def test_verify_audit_anchors_intact_exits_zero(history: Application, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    run("audit_anchor", "--file", str(path))

    code, out, err = verify("--anchors", str(path))

    assert code == 0, err
    assert "anchors match the ledger" in out


def test_verify_audit_anchors_rewritten_tail_exits_one_naming_it(
    history: Application, tmp_path: Path, append_only_bypassed: Bypass
) -> None:
    path = tmp_path / "anchors.jsonl"
    run("audit_anchor", "--file", str(path))
    with append_only_bypassed():
        last = rewrite_tail("620902", reason="forged")

    assert verify()[0] == 0
    code, _out, err = verify("--anchors", str(path))

    assert code == 1
    assert f"FAILED: chain 620902 entry #{last.seq}" in err
    assert "anchor mismatch" in err


def test_verify_audit_anchors_malformed_file_fails_naming_the_line(
    history: Application, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.jsonl"
    path.write_text("not an anchor\n")

    with pytest.raises(CommandError, match="第 1 行"):
        call_command("verify_audit", "--anchors", str(path))
