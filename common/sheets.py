"""Tables in and out of the system.

Reading a table a person or another department sends: an ``.xlsx`` workbook (its first
sheet) or a CSV file in UTF-8 (with or without a byte-order mark) or GB18030, the encodings
Chinese offices write. Rows come one at a time, so a list of hundreds of thousands of rows
is never held whole; a cell keeps its type from a workbook (a date, a number) and is text
from a CSV file. A formula is never evaluated or trusted: its cell reads as ``Formula``, for
the caller to report.

Writing one: CSV streamed line by line (any size), or an ``.xlsx`` workbook written row by
row to a temporary file. Every text cell that a spreadsheet could take for a formula (it
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading
apostrophe, so that a name or a reason such as ``=HYPERLINK(...)`` stays text when someone
opens the file (OWASP "CSV injection")."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import openpyxl
import xlsxwriter
from django.http import FileResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

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


@dataclass(frozen=True)
class RowProblem:
    """Why a row (or one of its cells) will not do, by row number and column heading."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


_FULLWIDTH = str.maketrans({"（": "(", "）": ")", "　": ""})
# ="110101199003071234": how Excel users keep a long number as text. A literal, not a
# computation: read as the text inside.
_QUOTED = re.compile(r'^=\s*"([^"]*)"$')
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def header_key(text: object) -> str:
    """A header as compared: spaces dropped, full-width brackets as half-width."""
    return re.sub(r"\s", "", str(text or "")).translate(_FULLWIDTH)


def cell_unquoted(cell: Cell) -> Cell:
    """A ``="…"`` formula (a literal kept as text) as the text inside; any other cell as it
    is."""
    if isinstance(cell, Formula):
        match = _QUOTED.match(cell.text.strip())
        if match:
            return match.group(1)
    return cell


# A spreadsheet holds a number to 15 significant digits. An ID or card number typed as a
# number has lost its last digits, whatever it now reads: by chance it may even pass its
# check digit as someone else's number.
_EXACT_DIGITS = 10**15


def cell_digits_lost(cell: Cell) -> bool:
    """Whether the cell is a number too long for a spreadsheet to have kept exactly (a
    workbook's reader gives a whole number as ``int`` or ``float``, as its writer wrote it)."""
    if isinstance(cell, bool) or not isinstance(cell, int | float | Decimal):
        return False
    number = Decimal(cell)
    return not number.is_nan() and abs(number) >= _EXACT_DIGITS


def digits_lost_message() -> str:
    return _(
        "The number was typed as a number, and a spreadsheet keeps only its first 15 "
        "digits: format the column as text and type the number again."
    )


def cell_text(cell: Cell) -> str:
    """A cell as text: nothing for an empty cell, a whole number without its ``.0``."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


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


def sheet_sniff(file: IO[bytes], *, name: str = "") -> None:
    """Refuse at once (``SheetError``) a file that is no table ``sheet_rows`` can read: not
    a workbook, binary, or in neither encoding; without reading more than its start (and,
    for a workbook, its zip directory)."""
    file.seek(0)
    head = file.read(len(_XLSX_MAGIC))
    file.seek(0)
    if head == _XLSX_MAGIC:
        if _unzipped_size(file) > MAX_UNZIPPED:
            raise SheetError(
                _("The workbook unpacks to more than %(limit)s MB.")
                % {"limit": MAX_UNZIPPED // (1024 * 1024)}
            )
        return
    if name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise SheetError(_("This is not a valid .xlsx workbook."))
    encoding, bom = _encoding(file)
    sample = file.read(_SNIFF)
    file.seek(0)
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample[bom:], final=False)
    except UnicodeDecodeError:
        raise SheetError(
            _("The file is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8) or .xlsx.")
        ) from None


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


# --- writing ------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 200_000  # beyond this, by default, the CSV export (streamed) is the tool
XLSX_SHEET_ROWS = 1_048_576  # what a worksheet holds, its header included


def neutralise(value: object) -> str:
    """The cell's text, without control characters (openpyxl refuses them; tab and carriage
    return stay) and with a leading apostrophe when a spreadsheet would evaluate it."""
    text = str(ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value)))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose ``write`` returns the line, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """The CSV text line by line, starting with a byte-order mark (Excel then reads it as
    UTF-8, Chinese included). The rows' cells are written as given (``neutralise`` them)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + str(writer.writerow([neutralise(h) for h in header]))
    for row in rows:
        yield str(writer.writerow(row))


def xlsx_file(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    title: str,
    max_rows: int = XLSX_MAX_ROWS,
    text_columns: Sequence[int] = (),
    widths: Sequence[int] = (),
) -> tuple[IO[bytes], bool]:
    """An .xlsx workbook of the rows (at most ``max_rows``), in a temporary file positioned
    at its start (closing it removes it); and whether rows were cut off, which its last row
    then says. Every cell is written as text, so nothing is evaluated; ``text_columns``
    (0-based) are also formatted as text, so that a long number typed into them later (an
    ID number) keeps its digits. Written row by row (XlsxWriter's constant-memory mode:
    about 25 µs a row of ten cells, a third of openpyxl's time)."""
    max_rows = min(max_rows, XLSX_SHEET_ROWS - 2)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    book = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    sheet = book.add_worksheet(title[:31])
    text = book.add_format({"num_format": "@"})
    for i in range(max(len(widths), max(text_columns, default=-1) + 1)):
        width = widths[i] if i < len(widths) else None
        if width is not None or i in text_columns:
            sheet.set_column(i, i, width, text if i in text_columns else None)
    write = sheet.write_string
    for c, heading in enumerate(header):
        write(0, c, neutralise(heading))
    truncated = False
    r = 0
    for r, row in enumerate(rows, start=1):
        if r > max_rows:
            truncated = True
            break
        for c, value in enumerate(row):
            if value:
                write(r, c, value)
    if truncated:
        write(r, 0, _("Cut off after %(n)s rows: use the CSV export.") % {"n": max_rows})
    book.close()
    out.seek(0)
    return out, truncated


def template_file(
    header: Sequence[str],
    *,
    title: str,
    text_columns: Sequence[int] = (),
    widths: Sequence[int] = (),
    choices: Mapping[int, Sequence[str]] | None = None,
    notes_title: str = "",
    notes: Sequence[tuple[str, str]] = (),
    rows: int = 5000,
) -> IO[bytes]:
    """An empty .xlsx form to fill in: the header row (frozen), ``text_columns`` formatted
    as text for their first ``rows`` rows, ``choices`` as drop-down lists on their column,
    and a second sheet of (column, what to write) notes. In a temporary file at its start."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    book = xlsxwriter.Workbook(out, {"strings_to_numbers": False, "strings_to_formulas": False})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})
    for i, heading in enumerate(header):
        width = widths[i] if i < len(widths) else 12
        sheet.set_column(i, i, width, text if i in text_columns else None)
        sheet.write_string(0, i, heading, bold)
    sheet.freeze_panes(1, 0)
    for i, values in (choices or {}).items():
        sheet.data_validation(
            1, i, rows, i, {"validate": "list", "source": list(values), "ignore_blank": True}
        )
    if notes:
        explained = book.add_worksheet(notes_title[:31] or "notes")
        explained.set_column(0, 0, 14)
        explained.set_column(1, 1, 80)
        for r, (column, note) in enumerate(notes):
            explained.write_string(r, 0, column, bold)
            explained.write_string(r, 1, note)
    book.close()
    out.seek(0)
    return out


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, title: str
) -> tuple[bytes, bool]:
    """``xlsx_file`` read into memory, for the capped exports (at most ``XLSX_MAX_ROWS``)."""
    file, truncated = xlsx_file(header, rows, title=title)
    with file:
        return file.read(), truncated


def sheet_response(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    fmt: str,
    filename: str,
    title: str,
    text_columns: Sequence[int] = (),
    widths: Sequence[int] = (),
) -> StreamingHttpResponse | FileResponse:
    """The rows as a download: ``csv`` streamed as it is read, ``xlsx`` as a whole sheet
    (up to the million rows a worksheet holds). Never cached."""
    response: StreamingHttpResponse | FileResponse
    if fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(header, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    else:
        file, _truncated = xlsx_file(
            header,
            rows,
            title=title,
            max_rows=XLSX_SHEET_ROWS,
            text_columns=text_columns,
            widths=widths,
        )
        response = FileResponse(
            file,
            as_attachment=True,
            filename=f"{filename}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Cache-Control"] = "private, no-store"
    return response
