"""The payments of the reader's payment rounds as a sheet: one row per line, as the bank
answered it; the card masked, never the ID number. Audited (``payment.export``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from applications.exports import Export, export_area, export_stamp
from audit.services import audit_record
from common.actors import Actor
from common.errors import InvalidInput
from common.sheets import neutralise
from payments.models import PaymentLine, PaymentRound
from payments.selectors import payment_rounds_visible_to

CHUNK = 2000


def payments_export(*, actor: Actor, params: Mapping[str, str], fmt: str) -> Export:
    """Every line of the payment rounds the reader may see, newest round first; narrowed by
    ``program`` (its id) and ``status`` (the round's)."""
    rounds = payment_rounds_visible_to(actor)
    chosen: dict[str, str] = {}
    program = str(params.get("program", "") or "").strip()
    if program:
        if not program.isdigit():
            raise InvalidInput({"program": [_("A whole number is expected.")]})
        rounds = rounds.filter(program_id=int(program))
        chosen["program"] = program
    status = str(params.get("status", "") or "").strip()
    if status:
        if status not in PaymentRound.Status.values:
            raise InvalidInput({"status": [_("Unknown status.")]})
        rounds = rounds.filter(status=status)
        chosen["status"] = status
    lines = (
        PaymentLine.objects.filter(round__in=rounds)
        .select_related("round", "round__program")
        .order_by("-round__created_at", "round_id", "pk")
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="payment.export",
            object_type="payment_round",
            area_code=export_area(actor),
            changes={
                "format": [None, fmt],
                "filters": [None, chosen],
                "lines": [None, lines.count()],
            },
        )
    zone = ZoneInfo(settings.TIME_ZONE)
    statuses = dict(PaymentLine.Status.choices)

    def rows() -> Iterator[list[str]]:
        for line in lines.iterator(chunk_size=CHUNK):
            answered = (
                line.answered_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                if line.answered_at
                else ""
            )
            yield [
                line.round.reference,
                neutralise(line.round.program.name),
                line.reference,
                str(line.application_id or ""),
                neutralise(line.payee_name),
                line.card_masked,
                str(line.amount),
                str(statuses.get(line.status, line.status)),
                "" if line.paid_amount is None else str(line.paid_amount),
                neutralise(line.failure_reason),
                neutralise(line.bank_txn_id),
                answered,
            ]

    return Export(
        header=[
            _("payment round"),
            _("program"),
            _("line"),
            _("application"),
            _("account name"),
            _("bank card"),
            _("amount (yuan)"),
            _("status"),
            _("paid (yuan)"),
            _("reason of failure"),
            _("bank transaction"),
            _("answered at"),
        ],
        rows=rows(),
        filename=f"payments-{export_stamp()}",
        title=_("Payments"),
        text_columns=[2, 5, 10],
        widths=[18, 20, 22, 10, 10, 22, 12, 10, 12, 20, 22, 18],
    )
