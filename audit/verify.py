"""Checking the ledger: every entry's hash, every link, every chain head.

``ledger_verify`` streams the entries once, in chain order, and hands each intact entry to
optional *replayers* (for example the applications app's, which rebuilds each
application's status and amount from its history and compares it with the database).
An app registers its replay once (``replay_register``, from its ``AppConfig.ready``);
whoever verifies the whole ledger asks ``replays()`` for a fresh set, so a new app's replay
is checked without editing the verifier.

It reads with plain SQL, not the ORM: each entry's time comes as the text that is hashed
(rendered by PostgreSQL) and ``changes`` as its stored canonical JSON text, so nothing is
parsed into Python objects only to be turned back into text. On PostgreSQL the whole check
reads one snapshot (``REPEATABLE READ``): entries appended meanwhile are not half seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Protocol

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Max, Q

from audit.anchors import Anchor
from audit.hashing import POSTGRES_TIME_FORMAT, format_time, text_hash
from audit.models import GENESIS_HASH, AuditEntry, ChainHead

BATCH = 5000  # entries per query (keyset pagination on the (chain, seq) unique index)
FIRST_SEQ = -(2**63)  # the lowest a seq (a 64-bit integer) can be


@dataclass(frozen=True)
class Problem:
    chain: str
    seq: int | None
    entry_id: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"chain {self.chain}"
        if self.seq is not None:
            where += f" entry #{self.seq}"
            if self.entry_id is not None:
                where += f" (id {self.entry_id})"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class AnchorCheck:
    """One chain head of one anchor, checked against the ledger (``problem`` when not)."""

    chain: str
    seq: int
    time: str
    hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)
    anchor_checks: list[AnchorCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


class Entry(NamedTuple):
    """One ledger row as the verifier reads it. ``time`` and ``changes`` are the texts that
    are hashed (``audit.hashing.format_time``, ``canonical_json``); the fields from ``chain``
    to ``prev_hash`` are, in order, the arguments of ``audit.hashing.payload_text``."""

    id: int
    chain: str
    seq: int
    time: str
    actor_id: int | None
    actor_name: str
    action: str
    outcome: str
    object_type: str
    object_id: str
    area_code: str
    from_state: str
    to_state: str
    changes: str
    reason: str
    prev_hash: str
    hash: str

    def changes_value(self) -> Any:
        """``changes`` parsed (a dict for every entry the ledger wrote)."""
        return json.loads(self.changes)


def differs(where: Entry, detail: str) -> Problem:
    """A replay's finding that the database is not what the entry ``where`` recorded."""
    return Problem(where.chain, where.seq, where.id, "database differs", detail)


def change_after(changes: dict[str, object], key: str) -> object:
    """The value ``key`` changed to in an entry's parsed ``changes`` (None without it)."""
    value = changes.get(key)
    return value[1] if isinstance(value, list) and len(value) == 2 else None


def money_of(value: object) -> Decimal | None:
    """A recorded amount as a ``Decimal`` (None when absent or not a number)."""
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


class Replayer(Protocol):
    """Sees every entry in chain order (``feed``, which should not query the database: the
    next batch is being read meanwhile), then says what it found (``problems``)."""

    def feed(self, entry: Entry) -> None: ...

    def problems(self) -> Iterable[Problem]: ...


ReplayFactory = Callable[[], Replayer]
"""Makes a fresh replayer (a replayer keeps state: one per verification)."""

_replays: list[ReplayFactory] = []


def replay_register(factory: ReplayFactory) -> None:
    """Have every later ``replays()`` include a replayer made by ``factory`` (once, however
    often it is registered)."""
    if factory not in _replays:
        _replays.append(factory)


def replay_unregister(factory: ReplayFactory) -> None:
    """Undo ``replay_register`` (nothing if it was not registered)."""
    if factory in _replays:
        _replays.remove(factory)


def replays() -> list[Replayer]:
    """A fresh replayer of each registered replay, in the order they were registered."""
    return [factory() for factory in _replays]


def _time_text(value: Any) -> str:
    """The hashed time text of a value another database than PostgreSQL returns (SQLite:
    a naive datetime in UTC, or its text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_time(value)


def _entries(chain: str | None) -> Iterator[Entry]:
    """Every entry (of one chain, or all) in (chain, seq) order, ``BATCH`` at a time.

    Chain by chain: each batch is ``chain = … AND seq >= … ORDER BY seq``, one range of the
    (chain, seq) unique index in one partition. (One keyset over the whole ledger, ``(chain,
    seq) > (…, …)``, was planned on the partitioned ledger as a sort of every entry left at
    every batch: PostgreSQL estimates a row comparison from its first column, found almost
    nothing left, and so did not merge the partitions' indexes. Each batch cost more than the
    one before: 75 s for the 700,000 entries of 100,000 applications, where it takes 5.)

    The next batch is fetched by a helper thread while this one is checked: the database
    produces rows on one core while Python hashes on the other. The two threads share the
    caller's connection (and so its transaction and snapshot) and never use it at once.
    """
    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, handed to the helper
    postgres = db.vendor == "postgresql"
    sql, params = _batch_query(db)
    chains = [chain] if chain else _chains_present()

    def fetch(at: tuple[int, int]) -> list[tuple[Any, ...]]:
        with db.cursor() as cursor:
            cursor.execute(sql, [*params, chains[at[0]], at[1]])
            return list(cursor.fetchall())

    make = Entry._make
    db.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(max_workers=1) as helper:
            pending: Future[list[tuple[Any, ...]]] | None = (
                helper.submit(fetch, (0, FIRST_SEQ)) if chains else None
            )
            index = 0
            while pending is not None:
                rows = pending.result()
                pending = None
                if len(rows) == BATCH:
                    pending = helper.submit(fetch, (index, rows[-1][2] + 1))
                elif index + 1 < len(chains):
                    index += 1
                    pending = helper.submit(fetch, (index, FIRST_SEQ))
                if postgres:
                    yield from map(make, rows)
                else:
                    for row in rows:
                        yield make((*row[:3], _time_text(row[3]), *row[4:]))
    finally:
        db.dec_thread_sharing()


def _batch_query(db: Any) -> tuple[str, list[Any]]:
    """The SQL of one batch of one chain and its first parameters; the chain and the lowest
    seq to read follow them (``FIRST_SEQ`` for a chain's first batch: a forged entry numbered
    0 or below is read, and reported, like any other)."""
    qn = db.ops.quote_name
    meta = AuditEntry._meta
    by_name = {f.attname: f.column for f in meta.concrete_fields}
    columns = [qn(by_name["created_at" if name == "time" else name]) for name in Entry._fields]
    params: list[Any] = []
    if db.vendor == "postgresql":
        columns[3] = f"to_char({columns[3]} AT TIME ZONE 'UTC', %s)"
        params.append(POSTGRES_TIME_FORMAT)
    chain_col, seq_col = columns[1], columns[2]
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(meta.db_table)} "  # noqa: S608 (names only)
        f"WHERE {chain_col} = %s AND {seq_col} >= %s ORDER BY {seq_col} LIMIT {BATCH}"
    )
    return sql, params


def _chains_present() -> list[str]:
    """Every chain that has an entry, in order, headless ones included: one probe of each
    partition's (chain, seq) index per chain, never a scan of the ledger."""
    qn = connection.ops.quote_name
    table = qn(AuditEntry._meta.db_table)
    chain_col = qn(AuditEntry._meta.get_field("chain").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE c(chain) AS (SELECT MIN({chain_col}) FROM {table} "  # noqa: S608
            f"UNION ALL SELECT (SELECT MIN({chain_col}) FROM {table} WHERE {chain_col} > c.chain) "
            "FROM c WHERE c.chain IS NOT NULL) SELECT chain FROM c WHERE chain IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent, read-only view of the database for the whole check (PostgreSQL,
    outside a caller's transaction); elsewhere the caller's view as it is."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def ledger_verify(
    *,
    chain: str | None = None,
    replayers: Iterable[Replayer] = (),
    anchors: Iterable[Anchor] = (),
) -> Report:
    """Verify every chain (or one), and against each anchor's heads (of that chain). Never
    raises for a broken ledger: it reports."""
    anchors = list(anchors)
    with _snapshot():
        report = _verify(chain, list(replayers))
        if anchors:
            checks = anchors_check(anchors=anchors, chains=None if chain is None else [chain])
            report.anchor_checks = checks
            report.problems.extend(c.problem for c in checks if c.problem is not None)
        return report


def anchors_check(
    *, anchors: Iterable[Anchor], chains: Collection[str] | None = None
) -> list[AnchorCheck]:
    """Each head of each anchor (of ``chains`` only, if given) against the ledger: the entry
    with that chain and seq must still exist with that hash (or, from a printed anchor,
    a hash beginning with those digits). The chain head row is not consulted: it is what
    an anchor guards against. Results in the anchors' order, then by chain."""
    wanted = [
        (anchor, head)
        for anchor in anchors
        for head in anchor.heads
        if chains is None or head.chain in chains
    ]
    if not wanted:
        return []
    found: dict[tuple[str, int], tuple[int, str]] = {}
    keys = {(head.chain, head.seq) for _anchor, head in wanted}
    pairs = sorted(keys)
    for start in range(0, len(pairs), 500):
        cond = Q()
        for name, seq in pairs[start : start + 500]:
            cond |= Q(chain=name, seq=seq)
        for name, seq, pk, digest in AuditEntry.objects.filter(cond).values_list(
            "chain", "seq", "id", "hash"
        ):
            found[(name, seq)] = (pk, digest)
    ends = dict(
        AuditEntry.objects.filter(chain__in={name for name, _seq in keys})
        .values_list("chain")
        .annotate(last=Max("seq"))
        .values_list("chain", "last")
    )
    checks = []
    for anchor, head in wanted:
        problem: Problem | None = None
        entry = found.get((head.chain, head.seq))
        last = ends.get(head.chain, 0)
        if entry is None and last < head.seq:
            problem = Problem(
                head.chain,
                head.seq,
                None,
                "shorter than anchor",
                f"the anchor of {anchor.time} names #{head.seq}, the chain ends at "
                f"#{last} (entries removed since the anchor)",
            )
        elif entry is None:
            problem = Problem(
                head.chain,
                head.seq,
                None,
                "anchor mismatch",
                f"the anchor of {anchor.time} names #{head.seq}, which is missing "
                "(an entry was removed)",
            )
        elif not entry[1].startswith(head.hash):
            problem = Problem(
                head.chain,
                head.seq,
                entry[0],
                "anchor mismatch",
                f"the anchor of {anchor.time} says {head.hash[:16]}…, the entry is "
                f"{entry[1][:16]}… (the chain was rewritten since the anchor)",
            )
        checks.append(AnchorCheck(head.chain, head.seq, anchor.time, head.hash, problem))
    return checks


def _verify(chain: str | None, replayers: list[Replayer]) -> Report:
    report = Report()
    problems = report.problems
    heads = {h.chain: h for h in ChainHead.objects.all()}
    feeds = [replayer.feed for replayer in replayers]
    current: str | None = None
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last: Entry | None = None
    closed: set[str] = set()
    entries = 0

    def close_chain(name: str, last_entry: Entry | None) -> None:
        head = heads.get(name)
        if head is None:
            problems.append(
                Problem(name, None, None, "missing head", "the chain has no head record")
            )
            return
        seq = last_entry.seq if last_entry else 0
        digest = last_entry.hash if last_entry else GENESIS_HASH
        if head.seq != seq or head.hash != digest:
            problems.append(
                Problem(
                    name,
                    seq,
                    last_entry.id if last_entry else None,
                    "head mismatch",
                    f"the chain head says #{head.seq} {head.hash[:12]}…, the last entry is "
                    f"#{seq} {digest[:12]}… (entries added or removed at the end)",
                )
            )

    for entry in _entries(chain):
        if entry.chain != current:
            if current is not None:
                close_chain(current, last)
                closed.add(current)
            current = entry.chain
            report.chains += 1
            expected_prev, expected_seq = GENESIS_HASH, 1
        entries += 1
        if text_hash(*entry[1:16]) != entry.hash:
            problems.append(
                Problem(
                    entry.chain,
                    entry.seq,
                    entry.id,
                    "altered",
                    "the content does not match its hash",
                )
            )
        if entry.seq != expected_seq:
            problems.append(
                Problem(
                    entry.chain,
                    entry.seq,
                    entry.id,
                    "gap",
                    f"expected #{expected_seq}, found #{entry.seq} (an entry was removed)",
                )
            )
        if entry.prev_hash != expected_prev:
            problems.append(
                Problem(
                    entry.chain,
                    entry.seq,
                    entry.id,
                    "broken link",
                    "the previous-hash does not match the entry before it "
                    "(an entry was inserted, removed or altered)",
                )
            )
        expected_prev, expected_seq, last = entry.hash, entry.seq + 1, entry
        for feed in feeds:
            feed(entry)
    report.entries = entries
    if current is not None:
        close_chain(current, last)
        closed.add(current)
    for name, head in heads.items():
        if (chain is None or name == chain) and name not in closed and head.seq:
            close_chain(name, None)  # every entry of this chain is gone
    for replayer in replayers:
        problems.extend(replayer.problems())
    return report
