"""Checking the ledger: every entry's hash, every link, every chain head.

``ledger_verify`` streams the entries once, in chain order, and hands each intact entry to
optional *replayers* (for example the applications app's, which rebuilds each
application's status and amount from its history and compares it with the database).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from audit.hashing import entry_hash
from audit.models import GENESIS_HASH, AuditEntry, ChainHead


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
            where += f" entry #{self.seq} (id {self.entry_id})"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


class Replayer(Protocol):
    def feed(self, entry: dict[str, Any]) -> None: ...

    def problems(self) -> Iterable[Problem]: ...


_FIELDS = (
    "id",
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
    "hash",
)


def _rows(chain: str | None) -> Iterator[dict[str, Any]]:
    qs = AuditEntry.objects.order_by("chain", "seq")
    if chain:
        qs = qs.filter(chain=chain)
    for row in qs.values_list(*_FIELDS).iterator(chunk_size=5000):
        yield dict(zip(_FIELDS, row, strict=True))


def ledger_verify(*, chain: str | None = None, replayers: Iterable[Replayer] = ()) -> Report:
    """Verify every chain (or one). Never raises for a broken ledger: it reports."""
    replayers = list(replayers)
    report = Report()
    heads = {h.chain: h for h in ChainHead.objects.all()}
    current: str | None = None
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last: dict[str, Any] | None = None
    closed: set[str] = set()

    def close_chain(name: str, last_row: dict[str, Any] | None) -> None:
        head = heads.get(name)
        if head is None:
            report.problems.append(
                Problem(name, None, None, "missing head", "the chain has no head record")
            )
            return
        seq = last_row["seq"] if last_row else 0
        digest = last_row["hash"] if last_row else GENESIS_HASH
        if head.seq != seq or head.hash != digest:
            report.problems.append(
                Problem(
                    name,
                    seq,
                    last_row["id"] if last_row else None,
                    "head mismatch",
                    f"the chain head says #{head.seq} {head.hash[:12]}…, the last entry is "
                    f"#{seq} {digest[:12]}… (entries added or removed at the end)",
                )
            )

    for row in _rows(chain):
        if row["chain"] != current:
            if current is not None:
                close_chain(current, last)
                closed.add(current)
            current = row["chain"]
            report.chains += 1
            expected_prev, expected_seq, last = GENESIS_HASH, 1, None
        report.entries += 1
        fields = {k: v for k, v in row.items() if k not in ("id", "hash")}
        recomputed = entry_hash(**fields)
        here = (row["chain"], row["seq"], row["id"])
        if recomputed != row["hash"]:
            report.problems.append(Problem(*here, "altered", "the content does not match its hash"))
        if row["seq"] != expected_seq:
            report.problems.append(
                Problem(
                    *here,
                    "gap",
                    f"expected #{expected_seq}, found #{row['seq']} (an entry was removed)",
                )
            )
        if row["prev_hash"] != expected_prev:
            report.problems.append(
                Problem(
                    *here,
                    "broken link",
                    "the previous-hash does not match the entry before it "
                    "(an entry was inserted, removed or altered)",
                )
            )
        expected_prev, expected_seq, last = row["hash"], row["seq"] + 1, row
        for replayer in replayers:
            replayer.feed(row)
    if current is not None:
        close_chain(current, last)
        closed.add(current)
    for name, head in heads.items():
        if (chain is None or name == chain) and name not in closed and head.seq:
            close_chain(name, None)  # every entry of this chain is gone
    for replayer in replayers:
        report.problems.extend(replayer.problems())
    return report
