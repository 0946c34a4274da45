"""Reading a table a person or another department sends: an ``.xlsx`` workbook (its first
sheet) or a CSV file in UTF-8 (with or without a byte-order mark) or GB18030, the encodings
Chinese offices write. Rows come one at a time, so a list of hundreds of thousands of rows
is never held whole; a cell keeps its type from a workbook (a date, a number) and is text
from a CSV file. A formula is never evaluated or trusted: its cell reads as ``Formula``, for
the caller to report."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import openpyxl
from django.utils.translation import gettext as _

# A zip that unpacks to more than this is refused before it is read (a "zip bomb").
MAX_UNZIPPED = 1024 * 1024 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_UTF8_BOM = codecs.BOM_UTF8
_GB18030_BOM = b"\x84\x31\x95\x33"  # U+FEFF in GB18030
# How much of a CSV file is tried as UTF-8 before choosing its encoding.
_SNIFF = 1024 * 1024


class SheetError(Exception):
    """The file cannot be read as a table at all; the message says why, in the user's
    language."""


@dataclass(frozen=True)
class Formula:
    """A cell holding a formula (``=…``), as written: never a value."""

    text: str

    def __str__(self) -> str:
        return self.text


Cell = object  # str | int | float | Decimal | date | datetime | Formula | None


def sheet_rows(file: IO[bytes], *, name: str = "") -> Iterator[tuple[int, list[Cell]]]:
    """The rows of the table in ``file`` as (row number from 1, cells), the trailing empty
    cells dropped; an empty row is an empty list. A workbook is recognised by its content,
    not by ``name``. Raises ``SheetError`` when the file is not a table this can read (a
    broken workbook, a file that is neither UTF-8 nor GB18030 text, a binary file)."""
    file.seek(0)
    head = file.read(len(_XLSX_MAGIC))
    file.seek(0)
    if head == _XLSX_MAGIC:
        return _workbook_rows(file)
    if name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise SheetError(_("This is not a valid .xlsx workbook."))
    return _csv_rows(file)


def _unzipped_size(file: IO[bytes]) -> int:
    try:
        with zipfile.ZipFile(file) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise SheetError(_("This is not a valid .xlsx workbook.")) from None
    finally:
        file.seek(0)


def _workbook_rows(file: IO[bytes]) -> Iterator[tuple[int, list[Cell]]]:
    if _unzipped_size(file) > MAX_UNZIPPED:
        raise SheetError(
            _("The workbook unpacks to more than %(limit)s MB.")
            % {"limit": MAX_UNZIPPED // (1024 * 1024)}
        )
    try:
        # data_only=False: a formula shows as its formula, never as a cached value.
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=False, keep_links=False)
    except Exception:  # openpyxl raises many kinds for a broken file
        raise SheetError(_("This is not a valid .xlsx workbook.")) from None
    return _sheet_iter(workbook)


def _sheet_iter(workbook: openpyxl.Workbook) -> Iterator[tuple[int, list[Cell]]]:
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers declare a wrong size: read every row
        for number, row in enumerate(sheet.iter_rows(), start=1):
            cells: list[Cell] = []
            for cell in row:
                value = cell.value
                if getattr(cell, "data_type", None) == "f" or (
                    isinstance(value, str) and value.startswith("=")
                ):
                    value = Formula(str(getattr(value, "text", value)))
                elif isinstance(value, str):
                    value = value.strip()
                cells.append(value)
            while cells and cells[-1] in (None, ""):
                cells.pop()
            yield number, cells
    except SheetError:
        raise
    except Exception:
        raise SheetError(_("This is not a valid .xlsx workbook.")) from None
    finally:
        workbook.close()


def _encoding(file: IO[bytes]) -> tuple[str, int]:
    """The CSV file's encoding and the length of its byte-order mark."""
    sample = file.read(_SNIFF)
    file.seek(0)
    if b"\x00" in sample:
        raise SheetError(_("This is a binary file, not a table."))
    if sample.startswith(_UTF8_BOM):
        return "utf-8", len(_UTF8_BOM)
    if sample.startswith(_GB18030_BOM):
        return "gb18030", len(_GB18030_BOM)
    try:
        # A multi-byte character cut at the sample's end is not a wrong encoding.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030", 0
    return "utf-8", 0


def _csv_rows(file: IO[bytes]) -> Iterator[tuple[int, list[Cell]]]:
    encoding, bom = _encoding(file)
    file.seek(bom)
    text = io.TextIOWrapper(file, encoding=encoding, newline="")
    try:
        for number, row in enumerate(csv.reader(text), start=1):
            cells: list[Cell] = [
                Formula(c.strip()) if c.strip().startswith("=") else c.strip() for c in row
            ]
            while cells and cells[-1] == "":
                cells.pop()
            yield number, cells
    except UnicodeDecodeError:
        raise SheetError(
            _("The file is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8) or .xlsx.")
        ) from None
    except csv.Error:
        raise SheetError(_("The CSV file is malformed; save it again as CSV or .xlsx.")) from None
    finally:
        # Leave the caller's file open (a wrapper closes what it wraps); it may be closed
        # already when the reader was left unfinished.
        with contextlib.suppress(ValueError):
            text.detach()
