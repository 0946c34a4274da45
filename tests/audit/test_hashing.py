"""The hashed text of an entry: built around the stored ``changes`` text, it is exactly the
canonical JSON of the entry's fields, whatever the strings hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.hashing import canonical_json, entry_hash, format_time, payload_text, text_hash

AWKWARD = ["plain", '引号"和\\反斜杠', "line\nbreak\ttab\x01", "\x7f\u2028", "", "民主评议"]


@pytest.mark.parametrize("text", AWKWARD)
def test_payload_text_is_canonical_json_of_the_fields(text: str) -> None:
    changes = {"reason": [None, text], "amount": ["1.00", "2.00"]}
    fields: list[Any] = ["620902", 7, "2026-01-02T03:04:05.000006Z", None, text, "a.b", "done"]
    fields += ["application", "12", "620902100200", text, "draft", changes, text, "0" * 64]

    built = payload_text(
        "620902", 7, "2026-01-02T03:04:05.000006Z", None, text, "a.b", "done",
        "application", "12", "620902100200", text, "draft", canonical_json(changes), text, "0" * 64,
    )  # fmt: skip

    assert built == json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def test_entry_hash_is_text_hash_of_formatted_fields() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values: dict[str, Any] = {
        "chain": "620902",
        "seq": 1,
        "created_at": at,
        "actor_id": 3,
        "actor_name": "cadre",
        "action": "application.create",
        "outcome": "done",
        "object_type": "application",
        "object_id": "9",
        "area_code": "620902100200",
        "from_state": "",
        "to_state": "draft",
        "changes": {"status": [None, "draft"]},
        "reason": "",
        "prev_hash": "0" * 64,
    }
    positional = list(values.values())
    positional[2] = format_time(at)
    positional[12] = canonical_json(values["changes"])

    assert entry_hash(**values) == text_hash(*positional)
    assert format_time(at) == "2026-01-02T03:04:05.000000Z"


def test_hashed_fields_are_the_fields_entry_hash_takes() -> None:
    import inspect

    from audit.hashing import HASHED_FIELDS, entry_hash

    assert HASHED_FIELDS == tuple(inspect.signature(entry_hash).parameters)
