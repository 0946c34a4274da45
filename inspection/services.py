"""What inspectors write: the record that they exported or verified the audit trail. And the
one check of the ledger, shared by the verification page and ``manage.py verify_audit``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db import transaction

from approvals.selectors import audit_chains_visible_to
from audit.anchors import Anchor
from audit.services import audit_record
from audit.verify import Entry, Problem, Replayer, Report, ledger_verify, replays
from common.actors import Actor


def _ledger_record(
    *, actor: Actor, action: str, chain: str, changes: dict[str, Any], reason: str = ""
) -> None:
    """An entry about a county's ledger chain (``""``: the whole ledger), in that chain."""
    audit_record(
        actor=actor,
        action=action,
        object_type="ledger",
        object_id=chain,
        area_code=chain + "000000" if chain else "",
        changes=changes,
        reason=reason,
    )


def audit_export_record(*, actor: Actor, kind: str, search: str) -> None:
    """Put an export of the audit trail on the record: one entry in each county chain the
    actor reads (one for the whole ledger for an admin), in one transaction, with the
    file's format (``kind``) and the search it was made of."""
    chains = audit_chains_visible_to(actor)
    with transaction.atomic():
        for chain in chains if chains is not None else [""]:
            _ledger_record(
                actor=actor,
                action="audit.export",
                chain=chain,
                changes={"format": [None, kind], "search": [None, search]},
            )


class _ChainReplay:
    """A replay reporting only on the chain being verified (an inspector hears of their own
    county only)."""

    def __init__(self, chain: str, inner: Replayer) -> None:
        self.chain = chain
        self.inner = inner

    def feed(self, entry: Entry) -> None:
        self.inner.feed(entry)

    def problems(self) -> Iterator[Problem]:
        return (p for p in self.inner.problems() if p.chain == self.chain)


def ledger_check(
    *, chain: str | None = None, anchors: Sequence[Anchor] = (), replay: bool = True
) -> Report:
    """Verify the whole ledger (``chain`` None) or one county chain, against the anchors'
    heads, with every replay registered (``audit.verify.replays``): all their problems for
    the whole ledger, only those of the chain for one chain; none with ``replay=False``.

    The one code path of the verification page (``audit_verify``) and of ``manage.py
    verify_audit``. Writes nothing; a broken ledger is reported, never raised."""
    replayers: list[Replayer] = []
    if replay:
        fresh = replays()
        replayers = fresh if chain is None else [_ChainReplay(chain, r) for r in fresh]
    return ledger_verify(chain=chain, replayers=replayers, anchors=anchors)


def audit_verify(*, actor: Actor, anchors: Sequence[Anchor] = ()) -> Report:
    """Verify the ledger chains the actor reads, each against the anchors' heads of that
    chain, and put each chain's result on the record.

    Guarantees: an admin's verification covers every chain with the full replay; an
    inspector's, each county chain of theirs on its own, hearing of no other county's
    problems; one entry per chain verified (ok, entries, problems, the anchors' digests),
    written in one transaction after the verification; a broken ledger is reported in the
    returned ``Report`` (all chains as one), never raised."""
    chains = audit_chains_visible_to(actor)
    anchors = list(anchors)
    if chains is None:
        reports = {"": ledger_check(anchors=anchors)}
    else:
        reports = {chain: ledger_check(chain=chain, anchors=anchors) for chain in chains}
    report = Report()
    with transaction.atomic():
        for chain, one in reports.items():
            report.entries += one.entries
            report.chains += one.chains
            report.problems.extend(one.problems)
            report.anchor_checks.extend(one.anchor_checks)
            _ledger_record(
                actor=actor,
                action="audit.verify",
                chain=chain,
                changes={
                    "ok": [None, one.ok],
                    "entries": [None, one.entries],
                    "problems": [None, len(one.problems)],
                }
                | ({"anchors": [None, [a.digest for a in anchors]]} if anchors else {}),
                reason=str(one.first_problem or ""),
            )
    return report
