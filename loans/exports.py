"""The reader's microloans as a sheet: one row per loan, from the list's own rows (the same
filters). Audited (``loan.export``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from applications.exports import Export, export_area, export_stamp
from audit.services import audit_record
from common.actors import Actor
from common.sheets import neutralise
from loans.models import Loan

CHUNK = 2000


def loans_export(
    *, actor: Actor, loans: QuerySet[Loan], filters: Mapping[str, str], fmt: str
) -> Export:
    """``loans``: the list's rows as the reader sees them (``loans_visible_to``, filtered)."""
    loans = loans.select_related("bank", "household")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="loan.export",
            object_type="loan",
            area_code=export_area(actor),
            changes={
                "format": [None, fmt],
                "filters": [None, dict(filters)],
                "loans": [None, loans.count()],
            },
        )
    statuses = dict(Loan.Status.choices)

    def rows() -> Iterator[list[str]]:
        for loan in loans.iterator(chunk_size=CHUNK):
            yield [
                loan.reference,
                neutralise(loan.bank.name),
                loan.area_code,
                neutralise(loan.household.head_name),
                loan.household.head_id_masked,
                str(loan.principal),
                str(loan.annual_rate),
                str(loan.months),
                loan.drawdown_date.isoformat(),
                loan.maturity_date.isoformat(),
                str(loan.outstanding_principal),
                str(loan.days_past_due),
                str(statuses.get(loan.status, loan.status)),
            ]

    return Export(
        header=[
            _("loan reference"),
            _("bank"),
            _("village code"),
            _("head of household"),
            _("head's ID number"),
            _("principal (yuan)"),
            _("contract rate (% a year)"),
            _("term (months)"),
            _("drawdown date"),
            _("maturity date"),
            _("outstanding principal (yuan)"),
            _("days past due"),
            _("status"),
        ],
        rows=rows(),
        filename=f"loans-{export_stamp()}",
        title=_("Microloans"),
        text_columns=[0, 2, 4],
        widths=[22, 20, 14, 10, 22, 12, 12, 10, 12, 12, 14, 10, 12],
    )
