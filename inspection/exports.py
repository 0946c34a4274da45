"""Audit trail exports: CSV (streamed, any size) and Excel (built in memory, capped).

Every text cell that a spreadsheet could take for a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) gets a leading apostrophe: an exported reason
such as ``=HYPERLINK(...)`` stays text when an inspector opens the file (OWASP "CSV
injection")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from audit.models import AuditEntry
from common.sheets import csv_lines, neutralise, xlsx_bytes

__all__ = ["AUDIT_COLUMNS", "audit_header", "audit_rows", "csv_lines", "neutralise", "xlsx_bytes"]

CHUNK = 2000


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
