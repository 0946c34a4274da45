"""Checking the ledger (``audit.verify``): every problem reported, read in batches, one chain
at a time; and the registry of replays that every verification of the whole ledger uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection

from applications.models import Application
from audit.models import AuditEntry
from audit.verify import (
    Entry,
    Problem,
    _entries,
    ledger_verify,
    replay_register,
    replay_unregister,
    replays,
)
from tests.factories import VILLAGE_B, World

Bypass = Callable[[], AbstractContextManager[None]]


def _sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def history(world: World) -> Application:
    """An application paid out, and a second county with its own history."""
    world.application("draft", area_code=VILLAGE_B)
    return world.application("disbursed")


@pytest.mark.django_db
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


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_ledger_verify_one_chain_across_batches(
    history: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify.BATCH", 2)

    report = ledger_verify(chain="620902")

    assert report.ok
    assert report.chains == 1
    assert report.entries == AuditEntry.objects.filter(chain="620902").count()


@pytest.mark.django_db
def test_entries_come_chain_by_chain_in_order_across_batches(
    history: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify.BATCH", 2)
    expected = list(AuditEntry.objects.order_by("chain", "seq").values_list("id", "chain", "seq"))
    assert len({chain for _id, chain, _seq in expected}) >= 2  # two counties, and the global

    read = [(e.id, e.chain, e.seq) for e in _entries(None)]

    assert read == expected
    assert [(e.id, e.chain, e.seq) for e in _entries("620903")] == [
        row for row in expected if row[1] == "620903"
    ]
    assert list(_entries("999999")) == []


@pytest.mark.django_db
def test_a_chain_with_entries_and_no_head_is_reported(
    history: Application, append_only_bypassed: Bypass, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify.BATCH", 2)
    with append_only_bypassed():
        _sql("DELETE FROM audit_chainhead WHERE chain = %s", ["620903"])

    report = ledger_verify()

    assert [(p.chain, p.kind) for p in report.problems] == [("620903", "missing head")]
    assert report.entries == AuditEntry.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("chain", [None, "620903"])
def test_an_entry_numbered_zero_or_below_is_read_and_reported(
    history: Application,
    append_only_bypassed: Bypass,
    monkeypatch: pytest.MonkeyPatch,
    chain: str | None,
) -> None:
    # A forged entry before a chain's first: the search shows it, so the check must read it.
    monkeypatch.setattr("audit.verify.BATCH", 2)
    columns = [f.column for f in AuditEntry._meta.concrete_fields if f.column not in ("id", "seq")]
    names = ", ".join(columns)
    with append_only_bypassed():
        for seq in (0, -5):
            _sql(
                f"INSERT INTO audit_auditentry ({names}, seq) "  # noqa: S608 (names only)
                f"SELECT {names}, %s FROM audit_auditentry WHERE chain = %s AND seq = 1",
                [seq, "620903"],
            )

    report = ledger_verify(chain=chain)

    assert (
        report.entries == AuditEntry.objects.filter(**({"chain": chain} if chain else {})).count()
    )
    forged = [p for p in report.problems if p.chain == "620903" and p.seq is not None]
    assert {-5, 0} <= {p.seq for p in forged}
    assert not report.ok


# --- the registry of replays -------------------------------------------------------------------


class Counting:
    """A replay that counts what it is fed."""

    def __init__(self) -> None:
        self.fed = 0

    def feed(self, entry: Entry) -> None:
        self.fed += 1

    def problems(self) -> Iterator[Problem]:
        return iter(())


@pytest.fixture
def counting() -> Iterator[None]:
    replay_register(Counting)
    yield
    replay_unregister(Counting)


def test_replays_makes_a_fresh_replayer_of_each_registered_replay(counting: None) -> None:
    first = [r for r in replays() if isinstance(r, Counting)]
    second = [r for r in replays() if isinstance(r, Counting)]

    assert len(first) == len(second) == 1
    assert first[0] is not second[0]


def test_replay_register_twice_replays_once(counting: None) -> None:
    replay_register(Counting)

    assert sum(isinstance(r, Counting) for r in replays()) == 1


def test_replay_unregister_leaves_it_out(counting: None) -> None:
    replay_unregister(Counting)

    assert not any(isinstance(r, Counting) for r in replays())
