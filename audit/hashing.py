"""The canonical form of an entry and its hash: one definition, used to write and verify.

An entry's hash is the SHA-256 of the compact JSON array of its fields (``payload_text``),
with the time as ``format_time`` renders it and ``changes`` as its canonical JSON text
(``canonical_json``), which is also exactly what the ``changes`` column stores. Verifying
therefore never parses JSON: it rebuilds the array around the stored text.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

# ``format_time``'s format, and the same rendered by PostgreSQL's ``to_char`` (the verifier
# asks the database for the text rather than building a datetime per entry).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
POSTGRES_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def canonical_value(value: Any) -> Any:
    """Values as the ledger keeps them: strings (exact for Decimal), lists, dicts or None."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """The ledger's JSON text: compact, keys sorted, non-ASCII characters kept as they are."""
    return _encoder.encode(value)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def payload_text(
    chain: str,
    seq: int,
    time: str,
    actor_id: int | None,
    actor_name: str,
    action: str,
    outcome: str,
    object_type: str,
    object_id: str,
    area_code: str,
    from_state: str,
    to_state: str,
    changes_json: str,
    reason: str,
    prev_hash: str,
) -> str:
    """The text that is hashed: ``canonical_json`` of the list of the fields in this order,
    built around ``changes_json`` (already canonical) instead of re-encoding it."""
    actor = "null" if actor_id is None else int(actor_id)
    q = encode_basestring
    return (
        f"[{q(chain)},{int(seq)},{q(time)},{actor},{q(actor_name)},{q(action)},"
        f"{q(outcome)},{q(object_type)},{q(object_id)},{q(area_code)},{q(from_state)},"
        f"{q(to_state)},{changes_json},{q(reason)},{q(prev_hash)}]"
    )


def text_hash(*fields: Any) -> str:
    """The hash of an entry given as ``payload_text``'s positional fields."""
    return hashlib.sha256(payload_text(*fields).encode()).hexdigest()


# The entry's fields that its hash covers, by the names ``entry_hash`` takes them.
HASHED_FIELDS = (
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


def entry_hash(
    *,
    chain: str,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    outcome: str,
    object_type: str,
    object_id: str,
    area_code: str,
    from_state: str,
    to_state: str,
    changes: Any,
    reason: str,
    prev_hash: str,
) -> str:
    """The hash of an entry from its field values (``changes`` as a value, not as text)."""
    return text_hash(
        chain,
        seq,
        format_time(created_at),
        actor_id,
        actor_name,
        action,
        outcome,
        object_type,
        object_id,
        area_code,
        from_state,
        to_state,
        canonical_json(changes),
        reason,
        prev_hash,
    )
