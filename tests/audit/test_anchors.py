"""Anchors: the chain heads kept outside the database (``audit.anchors``), taken by
``audit_anchor_create`` and ``manage.py audit_anchor``, and checked by ``ledger_verify`` (so
by ``manage.py verify_audit --anchors`` too, tested with the command): an attacker who
rewrites the end of a chain and its head together passes the ordinary verification, not the
anchor."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import translation

from applications.models import Application
from audit.anchors import Anchor, AnchorFormatError, anchor_build, anchors_parse
from audit.hashing import HASHED_FIELDS as HASHED
from audit.hashing import entry_hash
from audit.models import AuditEntry, ChainHead
from audit.services import audit_anchor_create, audit_record
from audit.verify import anchors_check, ledger_verify
from tests.factories import VILLAGE_1, VILLAGE_B, World

Bypass = Callable[[], AbstractContextManager[None]]

A, B = "620902", "620903"


@pytest.fixture
def history(world: World) -> Application:
    """An application paid out in county A, a draft in county B."""
    world.application("draft", area_code=VILLAGE_B)
    return world.application("disbursed")


def rewrite_from(chain: str, seq: int, *, reason: str) -> AuditEntry:
    """What an attacker with database rights does: change entry #seq of a chain, re-hash it
    and every later entry so that each links to the one before, and move the chain head
    along. Returns the entry as it was. Triggers must be off."""
    entries = list(AuditEntry.objects.filter(chain=chain, seq__gte=seq).order_by("seq"))
    prev = entries[0].prev_hash
    for n, entry in enumerate(entries):
        fields = {name: getattr(entry, name) for name in HASHED} | {"prev_hash": prev}
        if n == 0:
            fields["reason"] = reason
        prev = entry_hash(**fields)
        AuditEntry.objects.filter(pk=entry.pk).update(
            reason=fields["reason"], prev_hash=fields["prev_hash"], hash=prev
        )
    ChainHead.objects.filter(chain=chain).update(hash=prev)
    return entries[0]


def rewrite_tail(chain: str, *, reason: str) -> AuditEntry:
    """The last entry of a chain rewritten, the head moved along (triggers must be off)."""
    return rewrite_from(
        chain, AuditEntry.objects.filter(chain=chain).latest("seq").seq, reason=reason
    )


def truncate(chain: str, *, keep: int) -> None:
    """Delete the entries after #keep and point the head at #keep. Triggers must be off."""
    kept = AuditEntry.objects.get(chain=chain, seq=keep)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE chain = %s AND seq > %s", [chain, keep])
    ChainHead.objects.filter(chain=chain).update(seq=keep, hash=kept.hash)


def run(name: str, *args: str) -> tuple[int, str, str]:
    """Run a command; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    else:
        code = 0
    return code, out.getvalue(), err.getvalue()


# --- the two forms ------------------------------------------------------------------------------


def _anchor() -> Anchor:
    return anchor_build(
        time=datetime(2025, 1, 31, 2, 0, tzinfo=UTC),
        heads=[(B, 3, "b" * 64), (A, 12, "0123456789abcdef" * 4)],
    )


def test_anchor_json_line_reads_back_equal() -> None:
    anchor = _anchor()

    assert "\n" not in anchor.json_line()
    assert anchors_parse(anchor.json_line()) == [anchor]


def test_anchor_text_is_short_and_reads_back_with_hash_prefixes() -> None:
    anchor = _anchor()

    text = anchor.text()
    (parsed,) = anchors_parse(text)

    assert text.splitlines() == [
        "AUDIT-ANCHOR 2025-01-31T02:00:00Z",
        "620902 #12 0123456789abcdef0123",
        "620903 #3 bbbbbbbbbbbbbbbbbbbb",
        f"DIGEST {anchor.digest[:16]}",
    ]
    assert [(h.chain, h.seq, h.hash) for h in parsed.heads] == [
        (A, 12, "0123456789abcdef0123"),
        (B, 3, "b" * 20),
    ]
    assert parsed.time == anchor.time


def test_anchors_parse_edited_json_refused_by_digest() -> None:
    data = json.loads(_anchor().json_line())
    data["heads"][0]["seq"] = 11

    with translation.override("en"), pytest.raises(AnchorFormatError, match="digest"):
        anchors_parse(json.dumps(data))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        '{"anchor": 1}',
        "AUDIT-ANCHOR yesterday\n620902 #3 0123456789abcdef",
        "AUDIT-ANCHOR 2025-01-31T02:00:00Z\n620902 #3 0123",  # too few digits
        "AUDIT-ANCHOR 2025-01-31T02:00:00Z",  # no chain
    ],
)
def test_anchors_parse_malformed_refused(text: str) -> None:
    with pytest.raises(AnchorFormatError):
        anchors_parse(text)


# --- taking an anchor ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_anchor_create_records_every_head_and_is_audited(history: Application) -> None:
    heads = {h.chain: (h.seq, h.hash) for h in ChainHead.objects.all()}

    anchor = audit_anchor_create(actor=None)

    assert {h.chain: (h.seq, h.hash) for h in anchor.heads} == heads
    entry = AuditEntry.objects.get(action="audit.anchor")
    assert (entry.chain, entry.actor_name) == ("000000", "system")
    assert entry.changes["digest"] == [None, anchor.digest]
    assert entry.changes["heads"][1][A] == [str(heads[A][0]), heads[A][1]]
    assert ledger_verify().ok


@pytest.mark.django_db
def test_audit_anchor_create_of_some_chains_audited_in_each(
    world: World, history: Application
) -> None:
    anchor = audit_anchor_create(actor=world.user("inspector_a"), chains=[A])

    assert [h.chain for h in anchor.heads] == [A]
    entry = AuditEntry.objects.get(action="audit.anchor")
    assert (entry.chain, entry.actor_name) == (A, "inspector_a")


# --- checking against anchors ------------------------------------------------------------------


@pytest.mark.django_db
def test_ledger_verify_intact_ledger_matches_anchor(history: Application) -> None:
    anchor = audit_anchor_create(actor=None)
    with transaction.atomic():  # the ledger grows after the anchor: it still holds
        audit_record(actor=None, action="test.later", object_type="test", area_code=VILLAGE_1)

    report = ledger_verify(anchors=[anchor])

    assert report.ok, report.problems
    assert {c.chain for c in report.anchor_checks} == {A, B}
    assert all(c.ok for c in report.anchor_checks)


@pytest.mark.django_db
def test_ledger_verify_printed_anchor_matches_intact_ledger(history: Application) -> None:
    printed = anchors_parse(audit_anchor_create(actor=None).text())

    assert ledger_verify(anchors=printed).ok


@pytest.mark.django_db
def test_ledger_verify_tail_and_head_rewritten_caught_only_by_anchor(
    history: Application, append_only_bypassed: Bypass
) -> None:
    anchor = audit_anchor_create(actor=None)
    with append_only_bypassed():
        last = rewrite_tail(A, reason="forged")

    plain = ledger_verify()
    report = ledger_verify(anchors=[anchor])

    assert plain.ok  # the gap this closes
    assert not report.ok
    problem = report.first_problem
    assert problem is not None
    assert (problem.kind, problem.chain, problem.seq) == ("anchor mismatch", A, last.seq)
    assert f"chain {A} entry #{last.seq}" in str(problem)
    assert anchor.time in str(problem)
    assert [c.chain for c in report.anchor_checks if not c.ok] == [A]


@pytest.mark.django_db
def test_ledger_verify_chain_truncated_below_anchor_caught(
    history: Application, append_only_bypassed: Bypass
) -> None:
    anchor = audit_anchor_create(actor=None)
    anchored = next(h.seq for h in anchor.heads if h.chain == A)
    with append_only_bypassed():
        truncate(A, keep=anchored - 2)

    plain = ledger_verify()
    report = ledger_verify(anchors=[anchor])

    assert plain.ok
    (problem,) = report.problems
    assert (problem.kind, problem.chain, problem.seq) == ("shorter than anchor", A, anchored)
    assert f"the chain ends at #{anchored - 2}" in problem.detail


@pytest.mark.django_db
def test_anchors_check_keeps_to_the_chains_asked(
    history: Application, append_only_bypassed: Bypass
) -> None:
    anchor = audit_anchor_create(actor=None)
    with append_only_bypassed():
        rewrite_tail(B, reason="forged")

    assert all(c.ok for c in anchors_check(anchors=[anchor], chains=[A]))
    assert ledger_verify(chain=A, anchors=[anchor]).ok
    assert not ledger_verify(chain=B, anchors=[anchor]).ok


# --- the commands -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_anchor_command_appends_json_lines_and_prints_text(
    history: Application, tmp_path: Path
) -> None:
    path = tmp_path / "deep" / "anchors.jsonl"

    first = run("audit_anchor", "--file", str(path))
    second = run("audit_anchor", "--file", str(path))

    assert first[0] == second[0] == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    anchors = anchors_parse(path.read_text())
    assert first[1].strip() == anchors[0].text()
    assert AuditEntry.objects.filter(action="audit.anchor").count() == 2
    # the second anchor covers the first one's audit entry
    assert next(h.seq for h in anchors[1].heads if h.chain == "000000") == 1


@pytest.mark.django_db
def test_audit_anchor_command_default_file_from_setting(
    history: Application, tmp_path: Path
) -> None:
    path = tmp_path / "anchors" / "from-setting.jsonl"
    with override_settings(FUPIN_AUDIT_ANCHOR_FILE=path):
        assert run("audit_anchor")[0] == 0

    assert len(anchors_parse(path.read_text())) == 1


@pytest.mark.django_db
def test_audit_anchor_command_unwritable_file_fails_and_records_nothing(
    history: Application, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with pytest.raises(CommandError, match="cannot append"):
        call_command("audit_anchor", "--file", str(blocker / "anchors.jsonl"))

    assert not AuditEntry.objects.filter(action="audit.anchor").exists()


@pytest.mark.django_db
def test_audit_anchor_create_of_empty_chains_records_nothing() -> None:
    before = AuditEntry.objects.count()

    anchor = audit_anchor_create(actor=None, chains=["659999"])

    assert anchor.heads == ()
    assert AuditEntry.objects.count() == before
