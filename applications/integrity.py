"""Replaying the audit trail: each application's status and amount, rebuilt from its history,
must equal what the database holds. A direct database edit is caught here."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from applications.models import Application
from audit.models import AuditEntry
from audit.verify import Problem


class ApplicationReplay:
    def __init__(self) -> None:
        self.state: dict[str, tuple[str, str | None, dict[str, Any]]] = {}

    def feed(self, entry: dict[str, Any]) -> None:
        if entry["object_type"] != "application" or entry["outcome"] != AuditEntry.Outcome.DONE:
            return
        key = entry["object_id"]
        status, amount, where = self.state.get(key, ("", None, {}))
        if entry["to_state"]:
            status = entry["to_state"]
        change = (entry["changes"] or {}).get("amount")
        if isinstance(change, list) and len(change) == 2:
            amount = change[1]
        where = {"chain": entry["chain"], "seq": entry["seq"], "id": entry["id"]}
        self.state[key] = (status, amount, where)

    def problems(self) -> Iterator[Problem]:
        rows = Application.objects.values_list("pk", "status", "amount", "area_code").iterator(
            chunk_size=5000
        )
        seen: set[str] = set()
        for pk, status, amount, area_code in rows:
            key = str(pk)
            seen.add(key)
            if key not in self.state:
                yield Problem(
                    area_code[:6],
                    None,
                    None,
                    "unrecorded",
                    f"application {pk} has no audit history",
                )
                continue
            want_status, want_amount, where = self.state[key]
            if want_status != status:
                yield Problem(
                    where["chain"],
                    where["seq"],
                    where["id"],
                    "database differs",
                    f"application {pk} is '{status}' in the database but "
                    f"'{want_status}' by its audit trail",
                )
            try:
                differs = want_amount is None or Decimal(want_amount) != amount
            except InvalidOperation:
                differs = True
            if differs:
                yield Problem(
                    where["chain"],
                    where["seq"],
                    where["id"],
                    "database differs",
                    f"application {pk} has amount {amount} in the database but "
                    f"{want_amount} by its audit trail",
                )
        for key in self.state.keys() - seen:
            _status, _amount, where = self.state[key]
            yield Problem(
                where["chain"],
                where["seq"],
                where["id"],
                "database differs",
                f"application {key} is in the audit trail but not in the database",
            )
