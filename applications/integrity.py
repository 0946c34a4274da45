"""Replaying the audit trail: each application's status and amount, rebuilt from its history,
must equal what the database holds, and so must each program's committed total (the sum of
its applications that the trail shows approved or disbursed). A direct database edit is
caught here."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from applications.chains import chain_for_kind
from applications.models import Application, Program
from audit.models import AuditEntry
from audit.verify import Entry, Problem, differs

_DONE = AuditEntry.Outcome.DONE.value
_LIFECYCLE = "application."
# How a top-level "amount" key starts in canonical JSON; an entry without it is not parsed.
_AMOUNT_KEY = '"amount":'


class ApplicationReplay:
    def __init__(self) -> None:
        # application id → (status, amount, the entry that last touched it)
        self.state: dict[str, tuple[str, str | None, Entry]] = {}

    def feed(self, entry: Entry) -> None:
        if entry.object_type != "application" or entry.outcome != _DONE:
            return
        key = entry.object_id
        previous = self.state.get(key)
        status, amount = (previous[0], previous[1]) if previous else ("", None)
        # Only the lifecycle's own entries carry the application's status: others on the
        # application (a task claimed or released) record the task's state in to_state.
        if entry.to_state and entry.action.startswith(_LIFECYCLE):
            status = entry.to_state
        if _AMOUNT_KEY in entry.changes:
            changes = entry.changes_value()
            change = changes.get("amount") if isinstance(changes, dict) else None
            if isinstance(change, list) and len(change) == 2:
                amount = change[1]
        self.state[key] = (status, amount, entry)

    def problems(self) -> Iterator[Problem]:
        rows = Application.objects.values_list(
            "pk", "status", "amount", "area_code", "program_id"
        ).iterator(chunk_size=5000)
        seen: set[str] = set()
        committed: dict[int, Decimal] = {}
        # The statuses that commit a program's budget, by its chain's declaration.
        committing = {
            pk: chain.committed if (chain := chain_for_kind(kind)) is not None else frozenset()
            for pk, kind in Program.objects.values_list("pk", "kind")
        }
        for pk, status, amount, area_code, program_id in rows:
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
                yield differs(
                    where,
                    f"application {pk} is '{status}' in the database but "
                    f"'{want_status}' by its audit trail",
                )
            try:
                recorded = None if want_amount is None else Decimal(want_amount)
            except InvalidOperation:
                recorded = None
            if recorded is None or recorded != amount:
                yield differs(
                    where,
                    f"application {pk} has amount {amount} in the database but "
                    f"{want_amount} by its audit trail",
                )
            if want_status in committing.get(program_id, ()) and recorded is not None:
                committed[program_id] = committed.get(program_id, Decimal("0")) + recorded
        for key in self.state.keys() - seen:
            _status, _amount, where = self.state[key]
            yield differs(where, f"application {key} is in the audit trail but not in the database")
        yield from _committed_problems(committed)


def _committed_problems(by_trail: dict[int, Decimal]) -> Iterator[Problem]:
    """Each program's running total against the approved amounts its applications' audit
    trails add up to (an application that differs from its trail is reported above)."""
    for pk, code, area_id, committed in Program.objects.values_list(
        "pk", "code", "area_id", "committed"
    ).order_by("pk"):
        want = by_trail.get(pk, Decimal("0"))
        if committed != want:
            yield Problem(
                str(area_id)[:6],
                None,
                None,
                "database differs",
                f"program {code} has {committed} committed in the database but its approved "
                f"and disbursed applications add up to {want} by their audit trails",
            )
