"""Audit trail exports: CSV (streamed, any size) and Excel (built in memory, capped).

Every text cell that a spreadsheet could take for a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) gets a leading apostrophe: an exported reason
such as ``=HYPERLINK(...)`` stays text when an inspector opens the file (OWASP "CSV
injection")."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from audit.models import AuditEntry

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 200_000  # beyond this, the CSV export (streamed) is the tool
CHUNK = 2000


def neutralise(value: object) -> str:
    """The cell's text, without control characters (openpyxl refuses them; tab and carriage
    return stay) and with a leading apostrophe when a spreadsheet would evaluate it."""
    text = str(ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value)))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


AUDIT_COLUMNS = (
    ("time", gettext_lazy("time")),
    ("chain", gettext_lazy("chain")),
    ("seq", gettext_lazy("sequence")),
    ("actor", gettext_lazy("actor")),
    ("action", gettext_lazy("action")),
    ("outcome", gettext_lazy("outcome")),
    ("object_type", gettext_lazy("object type")),
    ("object_id", gettext_lazy("object id")),
    ("area_code", gettext_lazy("area code")),
    ("from_state", gettext_lazy("from")),
    ("to_state", gettext_lazy("to")),
    ("changes", gettext_lazy("changes")),
    ("reason", gettext_lazy("reason")),
    ("hash", gettext_lazy("hash")),
)
"""(key, heading) of each exported column, in order."""


def audit_header() -> list[str]:
    return [str(label) for _key, label in AUDIT_COLUMNS]


def audit_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[str]]:
    """One list of neutralised cells per entry, in the queryset's order, read in chunks."""
    zone = ZoneInfo(settings.TIME_ZONE)
    for e in entries.iterator(chunk_size=CHUNK):
        yield [
            neutralise(e.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")),
            neutralise(e.chain),
            neutralise(e.seq),
            neutralise(e.actor_name),
            neutralise(e.action),
            neutralise(e.outcome),
            neutralise(e.object_type),
            neutralise(e.object_id),
            neutralise(e.area_code),
            neutralise(e.from_state),
            neutralise(e.to_state),
            neutralise(
                e.changes
                if isinstance(e.changes, str)
                else json.dumps(e.changes, ensure_ascii=False, sort_keys=True)
            ),
            neutralise(e.reason),
            neutralise(e.hash),
        ]


class _Echo:
    """A file-like object whose ``write`` returns the line, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """The CSV text line by line, starting with a byte-order mark (Excel then reads it as
    UTF-8, Chinese included)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + str(writer.writerow([neutralise(h) for h in header]))
    for row in rows:
        yield str(writer.writerow(row))


def xlsx_bytes(header: list[str], rows: Iterable[list[str]], *, title: str) -> tuple[bytes, bool]:
    """An .xlsx workbook of the rows (at most ``XLSX_MAX_ROWS``); and whether rows were cut
    off. Every cell is written as text, so nothing is evaluated."""
    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet(title=title[:31])
    sheet.append([neutralise(h) for h in header])
    truncated = False
    for n, row in enumerate(rows):
        if n >= XLSX_MAX_ROWS:
            truncated = True
            break
        sheet.append(row)
    if truncated:
        sheet.append([_("Cut off after %(n)s rows: use the CSV export.") % {"n": XLSX_MAX_ROWS}])
    out = BytesIO()
    book.save(out)
    return out.getvalue(), truncated
