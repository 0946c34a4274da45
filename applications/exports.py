"""Lists out of the system as sheets: the registry in its template's layout, and the
applications. What is exported is what the list shows (the same selectors); ID and card
numbers are masked unless the reader asks for them and may see them, and every export is on
the audit trail, the full numbers said."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from applications.models import Application
from applications.registry_sheet import HEADERS, TEXT_COLUMNS, registry_rows
from applications.roles import REVEAL_PERMISSION
from applications.selectors import (
    application_filters_parse,
    applications_search,
    households_search,
    scope_prefixes,
)
from audit.services import audit_record
from common import clock
from common.actors import Actor
from common.errors import Code, Forbidden, InvalidInput
from common.sheets import neutralise

FORMATS = ("xlsx", "csv")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 2000


@dataclass
class Export:
    """A sheet to download: its header, its rows (read as they are written), the file's
    name without extension, and how the workbook lays them out."""

    header: list[str]
    rows: Iterator[list[str]]
    filename: str
    title: str
    text_columns: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


def export_format(value: str | None) -> str:
    fmt = (value or "xlsx").strip().lower()
    if fmt not in FORMATS:
        raise InvalidInput({"format": [_("Choose xlsx or csv.")]})
    return fmt


def export_stamp() -> str:
    return clock.now().astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y%m%d-%H%M%S")


def export_area(actor: Actor) -> str:
    """Where an export's audit entry goes: the reader's county (the global chain for
    someone of several counties)."""
    prefixes = scope_prefixes(actor)
    if not prefixes or len({p[:6] for p in prefixes}) > 1:
        return ""
    return prefixes[0].ljust(12, "0")


def households_export(
    *, actor: Actor, params: Mapping[str, str], fmt: str, reveal: bool = False
) -> Export:
    """The households of the user's list (``households_search``, the same parameters) in
    the registry template's layout, one row per person.

    Guarantees: ``reveal`` gives full ID, card and phone numbers in the areas where the user
    holds ``reveal_id_number`` and masked ones elsewhere, and is refused (``Forbidden``,
    ``role``) to a user who holds it nowhere; the export is audited
    (``household.export``: format, filters, rows, and how many households were revealed)
    before the first row is written. An administrator is no exception: reading everything
    is not the right to see full numbers (as ``person_reveal_id``)."""
    reveal_prefixes = scope_prefixes(actor, [REVEAL_PERMISSION]) if reveal else []
    if reveal and not reveal_prefixes:
        raise Forbidden(
            _("You may not see full ID numbers: ask for the right to reveal them."),
            code=Code.ROLE,
        )
    qs = households_search(actor, params)

    def may_reveal(area_code: str) -> bool:
        return any(area_code.startswith(p) for p in reveal_prefixes)

    revealed = sum(qs.filter(area_code__startswith=p).order_by().count() for p in reveal_prefixes)
    filters = {k: str(v) for k, v in params.items() if k in ("area", "name", "id_last4", "status")}
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="household.export",
            object_type="household",
            area_code=export_area(actor),
            changes={
                "format": [None, fmt],
                "filters": [None, filters],
                "households": [None, qs.order_by().count()],
                "revealed": [None, revealed],
            },
        )
    return Export(
        header=list(HEADERS),
        rows=registry_rows(qs, reveal=may_reveal, chunk=CHUNK),
        filename=f"households-{export_stamp()}",
        title=_("Registry"),
        text_columns=[HEADERS.index(h) for h in TEXT_COLUMNS],
        widths=[10, 14, 10, 22, 16, 16, 24, 22, 10, 14],
    )


def applications_export(*, actor: Actor, params: Mapping[str, str], fmt: str) -> Export:
    """The applications of the user's list (``applications_search``, the same filters):
    one row each, the head's ID number masked. Audited (``application.export``)."""
    filters, chosen, errors = application_filters_parse(params)
    if errors:
        raise InvalidInput(errors)
    qs: QuerySet[Application] = (
        applications_search(actor, filters=filters)
        .select_related("household", "program")
        .order_by("-created_at", "-id")
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="application.export",
            object_type="application",
            area_code=export_area(actor),
            changes={
                "format": [None, fmt],
                "filters": [None, chosen],
                "applications": [None, qs.order_by().count()],
            },
        )
    zone = ZoneInfo(settings.TIME_ZONE)
    statuses = dict(Application.Status.choices)

    def rows() -> Iterator[list[str]]:
        for app in qs.iterator(chunk_size=CHUNK):
            yield [
                str(app.pk),
                neutralise(app.program.name),
                app.area_code,
                neutralise(app.household.head_name),
                app.household.head_id_masked,
                str(statuses.get(app.status, app.status)),
                str(app.amount),
                app.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                app.status_changed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            ]

    header: list[Any] = [
        _("application"),
        _("program"),
        _("village code"),
        _("head of household"),
        _("head's ID number"),
        _("status"),
        _("amount (yuan)"),
        _("filed at"),
        _("status since"),
    ]
    return Export(
        header=[str(h) for h in header],
        rows=rows(),
        filename=f"applications-{export_stamp()}",
        title=_("Applications"),
        text_columns=[2],
        widths=[10, 20, 14, 10, 22, 14, 12, 18, 18],
    )
