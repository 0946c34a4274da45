"""Helpers of the cross-check tests: a department's list as a real file, and a scan."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.core.files.base import ContentFile

from crosscheck.formats import headers_of
from crosscheck.models import Lead, ReferenceList, Scan
from crosscheck.services import reference_list_upload, scan_now

COUNTY6 = "620902"


def list_csv(kind: str, rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8") -> bytes:
    """A list as a department writes it: the kind's Chinese headers, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers_of(kind))
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def list_xlsx(
    kind: str, rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None
) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(headers or headers_of(kind)))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(
    actor: Any,
    kind: str,
    rows: Sequence[Sequence[Any]],
    *,
    as_of: date = date(2026, 11, 1),
    source: str = "县公安局",
    data: bytes | None = None,
    name: str = "list.csv",
) -> ReferenceList:
    content = data if data is not None else list_csv(kind, rows)
    return reference_list_upload(
        actor=actor,
        kind=kind,
        source=source,
        as_of=as_of,
        file=ContentFile(content, name=name),
        file_name=name,
    )


def scan() -> Scan:
    done = scan_now(county=COUNTY6)
    assert done.status == Scan.Status.DONE, done.error
    return done


def leads(rule: str) -> list[Lead]:
    return list(Lead.objects.filter(rule=rule).order_by("pk"))
