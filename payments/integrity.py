"""Replaying the payment rounds from the audit trail. A round's count and total must be what
its last recorded act (creation, approval) said, and equal the sum of its lines; every line
the database holds as paid must have been recorded paid (by the application's paying step,
with the line and the amount the bank paid), with that amount, for that application, which
is disbursed; and nothing recorded paid may be missing. A paid line edited by SQL is caught here."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Count, Q, Sum

from audit.models import AuditEntry
from audit.verify import Entry, Problem, change_after, differs, money_of
from payments.models import PaymentLine, PaymentRound

_DONE = AuditEntry.Outcome.DONE.value
# Only entries that name a payment are parsed (canonical JSON keys).
_ROUND_KEYS = ('"total":', '"count":')
_LINE_KEY = '"payment_line":'
# What a line pays: an application (its paying step), or a claim (``payments.hooks``).
_PAYS = ("application", "subsidy_claim")


class PaymentReplay:
    def __init__(self) -> None:
        # round reference → (count, total, the entry that last recorded them)
        self.rounds: dict[str, tuple[int | None, Decimal | None, Entry]] = {}
        # line reference → (amount paid, what it paid, the entry that recorded it)
        self.paid: dict[str, tuple[Decimal | None, str, Entry]] = {}

    def feed(self, entry: Entry) -> None:
        if entry.outcome != _DONE:
            return
        if entry.object_type == "payment_round" and any(k in entry.changes for k in _ROUND_KEYS):
            changes = entry.changes_value()
            count = change_after(changes, "count")
            total = money_of(change_after(changes, "total"))
            self.rounds[entry.object_id] = (
                int(str(count)) if str(count).isdigit() else None,
                total,
                entry,
            )
        elif entry.object_type in _PAYS and _LINE_KEY in entry.changes:
            changes = entry.changes_value()
            reference = change_after(changes, "payment_line")
            if isinstance(reference, str):
                self.paid[reference] = (
                    money_of(change_after(changes, "paid_amount")),
                    f"{entry.object_type}:{entry.object_id}",
                    entry,
                )

    def problems(self) -> Iterator[Problem]:
        yield from self._round_problems()
        yield from self._paid_problems()

    def _round_problems(self) -> Iterator[Problem]:
        counted = Count("lines", filter=~Q(lines__status=PaymentLine.Status.WITHDRAWN))
        summed = Sum("lines__amount", filter=~Q(lines__status=PaymentLine.Status.WITHDRAWN))
        rows = PaymentRound.objects.annotate(n=counted, s=summed).values_list(
            "reference", "area_code", "status", "count", "total", "n", "s"
        )
        for reference, area_code, status, count, total, n, s in rows.iterator(chunk_size=2000):
            recorded = self.rounds.get(reference)
            if recorded is None:
                yield Problem(
                    area_code[:6],
                    None,
                    None,
                    "unrecorded",
                    f"payment round {reference} has no audit history",
                )
                continue
            want_count, want_total, where = recorded
            if (want_count, want_total) != (count, total):
                yield differs(
                    where,
                    f"payment round {reference} has {count} lines, {total} in the database but "
                    f"{want_count} lines, {want_total} by its audit trail",
                )
            cancelled = status == PaymentRound.Status.CANCELLED
            if not cancelled and (n, s or Decimal("0")) != (count, total):
                yield differs(
                    where,
                    f"payment round {reference}: its lines add up to {n}, {s or 0}, not the "
                    f"round's {count}, {total}",
                )

    def _paid_problems(self) -> Iterator[Problem]:
        seen: set[str] = set()
        rows = PaymentLine.objects.filter(status=PaymentLine.Status.PAID).values_list(
            "reference",
            "round__area_code",
            "amount",
            "paid_amount",
            "application_id",
            "application__status",
            "claim_id",
        )
        for reference, area_code, amount, paid_amount, app_id, app_status, claim in rows.iterator(
            chunk_size=5000
        ):
            seen.add(reference)
            recorded = self.paid.get(reference)
            if recorded is None:
                yield Problem(
                    area_code[:6],
                    None,
                    None,
                    "database differs",
                    f"payment line {reference} is paid in the database but no payment of it "
                    "is on the record",
                )
                continue
            want, paid_app, where = recorded
            if want != paid_amount or paid_amount != amount:
                yield differs(
                    where,
                    f"payment line {reference} was paid {paid_amount} of {amount} in the "
                    f"database but {want} by its audit trail",
                )
            if claim is not None:
                if paid_app != f"subsidy_claim:{claim}":
                    yield differs(
                        where,
                        f"payment line {reference} paid {paid_app} by its audit trail but is "
                        f"the line of claim {claim} in the database",
                    )
            elif paid_app != f"application:{app_id}" or app_status != "disbursed":
                yield differs(
                    where,
                    f"payment line {reference} paid {paid_app} by its audit trail "
                    f"but is the line of application {app_id} ({app_status}) in the database",
                )
        for reference in self.paid.keys() - seen:
            yield differs(
                self.paid[reference][2],
                f"payment line {reference} is paid by the audit trail but not in the database",
            )
