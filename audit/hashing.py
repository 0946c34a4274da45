"""The canonical form of an entry and its hash: one definition, used to write and verify."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


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


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    payload = [
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
        changes,
        reason,
        prev_hash,
    ]
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
