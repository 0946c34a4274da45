"""Writing to the ledger. Callers are inside their own ``transaction.atomic()``; the entry
commits or rolls back with the change it records."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from audit.anchors import Anchor, anchor_build
from audit.hashing import canonical_value, entry_hash
from audit.models import GLOBAL_CHAIN, AuditEntry, ChainHead
from common import clock
from common.actors import Actor

SYSTEM_ACTOR_NAME = "system"
PUBLIC_ACTOR_NAME = "public"


def chain_for_area(area_code: str) -> str:
    """One chain per county: the first six digits of the area code."""
    return area_code[:6] if len(area_code) >= 6 else GLOBAL_CHAIN


def _lock_head(chain: str) -> ChainHead:
    found = list(
        ChainHead.objects.select_for_update(no_key=True).filter(chain=chain).order_by()[:1]
    )
    if found:
        return found[0]
    try:
        with transaction.atomic():
            ChainHead.objects.create(chain=chain)
    except IntegrityError:
        pass  # created by a concurrent writer; lock theirs
    return ChainHead.objects.select_for_update(no_key=True).get(chain=chain)


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = "",
    area_code: str = "",
    from_state: str = "",
    to_state: str = "",
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
    outcome: str = AuditEntry.Outcome.DONE,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one entry to its county's chain.

    Guarantees: the entry is written in the caller's transaction (it must be inside one),
    gets the next sequence number of its chain and links to the previous entry's hash;
    two writers in one county are serialised by the chain head's row lock.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change")
    chain = chain_for_area(area_code)
    head = _lock_head(chain)
    fields = _entry_fields(
        chain=chain,
        seq=head.seq + 1,
        prev_hash=head.hash,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        area_code=area_code,
        from_state=from_state,
        to_state=to_state,
        changes=changes,
        reason=reason,
        outcome=outcome,
        actor_name=actor_name,
    )
    entry = AuditEntry.objects.create(**fields)
    ChainHead.objects.filter(chain=chain).update(seq=entry.seq, hash=entry.hash)
    return entry


def audit_records(*, actor: Actor, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append many entries by one actor at once (a return file's lines): the same entries,
    in the same order, as ``audit_record`` called for each, with each chain's head locked
    and moved on once and the entries inserted together. Each mapping holds the keyword
    arguments of ``audit_record`` but ``actor``."""
    if not entries:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_records must run inside the transaction of the change")
    heads: dict[str, ChainHead] = {}
    rows: list[AuditEntry] = []
    for entry in entries:
        chain = chain_for_area(str(entry.get("area_code", "")))
        head = heads.get(chain)
        if head is None:
            head = heads[chain] = _lock_head(chain)
        fields = _entry_fields(
            chain=chain, seq=head.seq + 1, prev_hash=head.hash, actor=actor, **entry
        )
        head.seq, head.hash = fields["seq"], fields["hash"]
        rows.append(AuditEntry(**fields))
    AuditEntry.objects.bulk_create(rows, batch_size=2000)
    for chain, head in heads.items():
        ChainHead.objects.filter(chain=chain).update(seq=head.seq, hash=head.hash)


def _entry_fields(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = "",
    area_code: str = "",
    from_state: str = "",
    to_state: str = "",
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
    outcome: str = AuditEntry.Outcome.DONE,
    actor_name: str | None = None,
) -> dict[str, Any]:
    """The columns of an entry, its hash included."""
    user_id: int | None = None
    if actor is not None and actor.is_authenticated:
        user_id = int(actor.pk)
        name = actor_name or actor.get_username()
    else:
        name = actor_name or (PUBLIC_ACTOR_NAME if actor is not None else SYSTEM_ACTOR_NAME)
    fields: dict[str, Any] = {
        "chain": chain,
        "seq": seq,
        "created_at": clock.now(),
        "actor_id": user_id,
        "actor_name": name[:150],
        "action": action,
        "outcome": str(outcome),
        "object_type": object_type,
        "object_id": str(object_id),
        "area_code": area_code,
        "from_state": str(from_state or ""),
        "to_state": str(to_state or ""),
        "changes": canonical_value(dict(changes or {})),
        "reason": reason,
        "prev_hash": prev_hash,
    }
    fields["hash"] = entry_hash(**fields)
    return fields


def audit_refusal(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = "",
    area_code: str = "",
    from_state: str = "",
    reason: str,
) -> None:
    """Record a refused action in a transaction of its own, after the refused change rolled
    back: the refusal stays on the record although the action left no other trace.

    Guarantees: the transaction is durable, the outermost one: it commits here, so no outer
    rollback can erase the refusal. A caller inside a transaction is an error
    (``RuntimeError``), not a refusal silently lost: services refuse before or after their
    own transaction, never inside one."""
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            area_code=area_code,
            from_state=from_state,
            reason=reason,
            outcome=AuditEntry.Outcome.REFUSED,
        )


def audit_anchor_create(*, actor: Actor, chains: Collection[str] | None = None) -> Anchor:
    """Take an anchor of the chain heads (every chain, or only ``chains``) and record it.

    Guarantees: the heads are read by one query in one transaction, so the anchor is a
    state the ledger was in; chains with no entry are left out. The act is an
    ``audit.anchor`` entry, with the digest and the heads, in each anchored county's chain
    (in the global chain when every chain is anchored), written after the heads were read:
    the next anchor covers it. With no entry in any of the chains there is nothing to
    anchor: the anchor has no heads and nothing is recorded. Keeping the anchor outside the
    database is the caller's part.
    """
    with transaction.atomic():
        heads = ChainHead.objects.filter(seq__gt=0).order_by("chain")
        if chains is not None:
            heads = heads.filter(chain__in=list(chains))
        anchor = anchor_build(time=clock.now(), heads=heads.values_list("chain", "seq", "hash"))
        if not anchor.heads:
            return anchor
        changes = {
            "digest": [None, anchor.digest],
            "heads": [None, {h.chain: [h.seq, h.hash] for h in anchor.heads}],
        }
        for chain in sorted(chains) if chains is not None else [""]:
            audit_record(
                actor=actor,
                action="audit.anchor",
                object_type="ledger",
                object_id=chain,
                area_code=chain + "000000" if chain else "",
                changes=changes,
            )
    return anchor


def model_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Field-by-field ``{field: [before, after]}`` for the fields that differ."""
    before = before or {}
    diff: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = canonical_value(before.get(key)), canonical_value(after.get(key))
        if old != new:
            diff[key] = [old, new]
    return diff
