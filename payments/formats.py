"""Bank file formats (代发文件 out, 回盘文件 back). A bank's own format is a class with the same
two methods (see ``BankFormat``); the default is the pipe-separated text below, with an
``.xlsx`` twin holding the same records as rows, one cell per field.

    bank file (代发文件)
    H|<round reference>|<yyyymmdd>|<count>|<total, 2 decimals>
    D|<line reference>|<account name>|<card number>|<amount>|<ID number>|<purpose>
    return file (回盘文件)
    H|<round reference>|<yyyymmdd>|<count>|<total, 2 decimals>
    D|<line reference>|<account name>|<card number>|<amount>|<result code>|<result text>|<bank txn>

Text files: lines end with CRLF (a bare LF or CR is read too); the encoding is UTF-8 or
GB18030 (banks often write GBK, which GB18030 contains). Amounts are yuan with two decimals
("5000.00"), never negative; result code "0000" means paid.

Reading a return file checks everything that belongs to the file alone and reports every
problem at once (``ReturnFileInvalid.problems``): any problem refuses the whole file. Whether
the references belong to the round and the names and cards match what was sent is the
service's check, not this module's.

Pure: no database, no Django models."""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import openpyxl
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from common.money import FEN, to_fen

MAX_RETURN_FILE = 10 * 1024 * 1024
"""The largest return file read, in bytes (about 100,000 lines)."""

MAX_XLSX_UNZIPPED = 200 * 1024 * 1024
"""The most an ``.xlsx`` may unpack to, in bytes (a small file unzipping to gigabytes)."""

ENCODINGS = ("utf-8", "gb18030")
PAID = "0000"
SEPARATOR = "|"
NEWLINE = "\r\n"
HEADER, DETAIL = "H", "D"
HEADER_FIELDS = 5
DETAIL_FIELDS = 8
FILE = 0
"""The ``line_no`` of a problem with the file as a whole (empty, too large, not text...)."""

_UTF8_BOM = b"\xef\xbb\xbf"
_GB18030_BOM = b"\x84\x31\x95\x33"  # U+FEFF in GB18030
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls (and .doc)
_PDF = b"%PDF-"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DATE = re.compile(r"[0-9]{8}")
_COUNT = re.compile(r"[0-9]{1,9}")
# Up to 13 digits of yuan (a trillion): sums stay exact in Decimal's 28 digits.
_AMOUNT = re.compile(r"(-?)([0-9]{1,13})(?:\.([0-9]+))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BINARY_BYTES = bytes(b for b in [*range(0x20), 0x7F] if b not in b"\t\n\r\x0c\x1a")


# --- what goes out and what comes back ----------------------------------------------------


@dataclass(frozen=True)
class BankLine:
    """One payee in the bank file."""

    reference: str
    account_name: str
    card_number: str
    amount: Decimal
    id_number: str
    purpose: str


@dataclass(frozen=True)
class BankFile:
    """A round's batch file (代发文件): header with the count and total, then the payees."""

    round_reference: str
    date: datetime.date
    lines: tuple[BankLine, ...]

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def total(self) -> Decimal:
        return to_fen(sum((line.amount for line in self.lines), Decimal(0)))


@dataclass(frozen=True)
class ReturnLine:
    """One result in the bank's return file. ``line_no``: the line in the text file (the
    header is line 1) or the row in the sheet."""

    line_no: int
    reference: str
    account_name: str
    card_number: str
    amount: Decimal
    result_code: str
    result_text: str
    bank_txn_id: str

    @property
    def paid(self) -> bool:
        return self.result_code == PAID


@dataclass(frozen=True)
class ReturnFile:
    """A return file (回盘文件) that passed every check of the file alone. ``encoding``: the
    text encoding detected ("utf-8" or "gb18030"; "utf-8" for an ``.xlsx``, which is XML)."""

    round_reference: str
    date: datetime.date
    count: int
    total: Decimal
    lines: tuple[ReturnLine, ...]
    encoding: str


@dataclass(frozen=True)
class Problem:
    """Something wrong in a return file: where (``line_no``, ``FILE`` = 0 for the file as a
    whole) and what, in the user's language."""

    line_no: int
    message: str


class ReturnFileInvalid(Exception):
    """The return file is refused whole; ``problems`` lists all that was found, by line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems, key=lambda p: p.line_no)
        super().__init__("; ".join(f"{p.line_no}: {p.message}" for p in self.problems))


class BankFormat(Protocol):
    """A bank's file format. A county whose bank wants another layout writes a class with
    these members and adds it to ``FORMATS`` under its ``name``."""

    name: str
    """Short stable name, stored on the payment round ("txt", "xlsx", ...)."""
    suffix: str
    """File name suffix with its dot (".txt")."""
    content_type: str

    def write(self, bank_file: BankFile, *, encoding: str) -> bytes:
        """The bank file's bytes. Raises ``ValueError`` for a line that cannot be written
        (a field holding the separator or a control character, an amount not to the fen,
        a negative amount, an encoding not in ``ENCODINGS``)."""
        ...

    def read(self, data: bytes) -> ReturnFile:
        """The return file parsed; raises ``ReturnFileInvalid`` with every problem found."""
        ...


# --- writing ------------------------------------------------------------------------------


def _date_text(date: datetime.date) -> str:
    return f"{date.year:04d}{date.month:02d}{date.day:02d}"


def _amount_text(amount: Decimal) -> str:
    if not amount.is_finite():
        raise ValueError(f"amount {amount} is not a number")
    if amount < 0:
        raise ValueError(f"amount {amount} is negative")
    if amount != amount.quantize(FEN):
        raise ValueError(f"amount {amount} is not to the fen")
    return f"{to_fen(abs(amount)):f}"  # abs: never "-0.00"


def _field(value: str) -> str:
    if SEPARATOR in value or _CONTROL.search(value):
        raise ValueError(f"field {value!r} holds the separator or a control character")
    return value


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")


def bank_records(bank_file: BankFile) -> list[list[str]]:
    """The bank file's records, header first, as the fields written (checked, see
    ``BankFormat.write``)."""
    records = [
        [
            HEADER,
            _field(bank_file.round_reference),
            _date_text(bank_file.date),
            str(bank_file.count),
            _amount_text(bank_file.total),
        ]
    ]
    for line in bank_file.lines:
        records.append(
            [
                DETAIL,
                _field(line.reference),
                _field(line.account_name),
                _field(line.card_number),
                _amount_text(line.amount),
                _field(line.id_number),
                _field(line.purpose),
            ]
        )
    return records


# --- reading: the checks shared by every layout of records ---------------------------------


@dataclass(frozen=True)
class _Record:
    line_no: int
    fields: list[str]  # stripped; [] for a blank line


def _parse_date(text: str) -> datetime.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _parse_amount(text: str, what: str, line_no: int, problems: list[Problem]) -> Decimal | None:
    """The amount, or ``None`` with a problem added. ``what`` names the field for the user."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        problems.append(
            Problem(
                line_no,
                _(
                    "%(what)s %(text)s is not an amount: write digits with at most two "
                    "decimals, like 5000.00."
                )
                % {"what": what, "text": repr(text)},
            )
        )
        return None
    sign, _units, decimals = match.groups()
    ok = True
    if sign:
        problems.append(
            Problem(
                line_no,
                _("%(what)s %(text)s is negative.") % {"what": what, "text": text},
            )
        )
        ok = False
    if decimals is not None and len(decimals) > 2:
        problems.append(
            Problem(
                line_no,
                _("%(what)s %(text)s has more than two decimals.") % {"what": what, "text": text},
            )
        )
        ok = False
    return to_fen(Decimal(text)) if ok else None


def _check_fields(record: _Record, problems: list[Problem]) -> bool:
    header = record.fields[0] == HEADER
    expected = HEADER_FIELDS if header else DETAIL_FIELDS
    if len(record.fields) == expected:
        return True
    values = {"expected": expected, "count": len(record.fields)}
    if header:
        message = _("A header line has %(expected)s fields; this one has %(count)s.") % values
    else:
        message = _("A detail line has %(expected)s fields; this one has %(count)s.") % values
    problems.append(Problem(record.line_no, message))
    return False


@dataclass
class _Header:
    line_no: int = 0
    round_reference: str = ""
    date: datetime.date | None = None
    count: int | None = None
    total: Decimal | None = None


def _parse_header(record: _Record, header: _Header, problems: list[Problem]) -> None:
    line_no, fields = record.line_no, record.fields
    if not _check_fields(record, problems):
        return
    header.round_reference = fields[1]
    if not header.round_reference:
        problems.append(Problem(line_no, _("The header has no round reference.")))
    header.date = _parse_date(fields[2])
    if header.date is None:
        problems.append(
            Problem(
                line_no,
                _("The header's date %(text)s is not a date written yyyymmdd.")
                % {"text": repr(fields[2])},
            )
        )
    if _COUNT.fullmatch(fields[3]):
        header.count = int(fields[3])
    else:
        problems.append(
            Problem(
                line_no,
                _("The header's count %(text)s is not a whole number.") % {"text": repr(fields[3])},
            )
        )
    header.total = _parse_amount(fields[4], _("The header's total"), line_no, problems)


def _parse_detail(
    record: _Record, seen: dict[str, int], problems: list[Problem]
) -> ReturnLine | None:
    """The line, or ``None`` if its amount cannot be read (problems added either way)."""
    line_no = record.line_no
    if not _check_fields(record, problems):
        return None
    _kind, reference, name, card, amount_text, code, text, txn = record.fields
    if not reference:
        problems.append(Problem(line_no, _("This line has no reference.")))
    elif reference in seen:
        problems.append(
            Problem(
                line_no,
                _("The reference %(reference)s is on lines %(first)s and %(line)s.")
                % {"reference": reference, "first": seen[reference], "line": line_no},
            )
        )
    else:
        seen[reference] = line_no
    amount = _parse_amount(amount_text, _("The amount"), line_no, problems)
    if not code:
        problems.append(Problem(line_no, _("This line has no result code.")))
    if amount is None:
        return None
    return ReturnLine(line_no, reference, name, card, amount, code, text, txn)


def _parse_records(
    records: Sequence[_Record], encoding: str, problems: list[Problem]
) -> ReturnFile:
    """Every check of the records; raises ``ReturnFileInvalid`` if anything (including the
    ``problems`` already found) is wrong."""
    last = len(records)
    while last and not records[last - 1].fields:
        last -= 1  # blank lines at the end are allowed
    records = records[:last]
    if not records:
        problems.append(Problem(FILE, _("The file has no records.")))
        raise ReturnFileInvalid(problems)

    header = _Header()
    first_line = 0
    lines: list[ReturnLine] = []
    details = 0
    amounts_ok = True
    seen: dict[str, int] = {}
    for record in records:
        line_no, fields = record.line_no, record.fields
        if not fields:
            problems.append(Problem(line_no, _("This line is blank; only the end may be blank.")))
            continue
        first_line = first_line or line_no
        if any("\x00" in field for field in fields):
            problems.append(Problem(line_no, _("This line holds a NUL byte.")))
        kind = fields[0]
        if kind == HEADER:
            if header.line_no:
                problems.append(
                    Problem(
                        line_no,
                        _("A second header; the header is on line %(line)s.")
                        % {"line": header.line_no},
                    )
                )
                continue
            header.line_no = line_no
            if line_no != first_line:
                problems.append(
                    Problem(line_no, _("The header must be the first line of the file."))
                )
            _parse_header(record, header, problems)
        elif kind == DETAIL:
            details += 1
            line = _parse_detail(record, seen, problems)
            if line is None:
                amounts_ok = False
            else:
                lines.append(line)
        else:
            problems.append(
                Problem(
                    line_no,
                    _("Unknown record type %(kind)s: a line starts with H (header) or D (detail).")
                    % {"kind": repr(kind)},
                )
            )

    if not header.line_no:
        problems.append(Problem(first_line, _("The file does not start with a header (H) line.")))
    if header.count is not None and header.count != details:
        problems.append(
            Problem(
                header.line_no,
                _("The header's count is %(header)s but the file has %(lines)s lines.")
                % {"header": header.count, "lines": details},
            )
        )
    if header.total is not None and amounts_ok:
        lines_total = to_fen(sum((line.amount for line in lines), Decimal(0)))
        if header.total != lines_total:
            problems.append(
                Problem(
                    header.line_no,
                    _("The header's total is %(header)s but the lines add up to %(lines)s.")
                    % {"header": f"{header.total:f}", "lines": f"{lines_total:f}"},
                )
            )
    if problems:
        raise ReturnFileInvalid(problems)
    if header.date is None or header.count is None or header.total is None:
        raise AssertionError("a header that did not parse always adds a problem")
    return ReturnFile(
        header.round_reference, header.date, header.count, header.total, tuple(lines), encoding
    )


def _size_problems(data: bytes) -> list[Problem]:
    if not data:
        return [Problem(FILE, _("The file is empty."))]
    if len(data) > MAX_RETURN_FILE:
        return [
            Problem(
                FILE,
                _("The file is larger than the limit of %(limit)s MB.")
                % {"limit": MAX_RETURN_FILE // (1024 * 1024)},
            )
        ]
    return []


def _kind_problem(data: bytes, *, spreadsheet_ok: bool) -> Problem | None:
    """A clear word for a file of the wrong kind (a spreadsheet, a PDF, UTF-16 text, ...)."""
    if data.startswith(_ZIP) and not spreadsheet_ok:
        return Problem(FILE, _("This is a spreadsheet (or a zip), not the text return file."))
    if data.startswith(_OLE2):
        return Problem(
            FILE, _("This is an old Excel (.xls) or Word file; save it as .xlsx or as text.")
        )
    if data.startswith(_PDF):
        return Problem(FILE, _("This is a PDF, not the return file."))
    if data.startswith(_UTF16_BOMS):
        return Problem(FILE, _("This text is in UTF-16; save the return file as UTF-8 or GB18030."))
    return None


# --- the pipe-separated text ----------------------------------------------------------------


def _controls(data: bytes) -> int:
    """How many bytes no text file holds (NUL and the other control bytes but tab, line feed,
    carriage return, form feed and the old end-of-file mark)."""
    return len(data) - len(data.translate(None, _BINARY_BYTES))


def _looks_binary(data: bytes) -> bool:
    """Control bytes in numbers (an image, an executable, a word processor file...). A stray
    NUL in a text file is reported on its line instead."""
    controls = _controls(data)
    return controls >= 2 and controls * 100 >= len(data)


def _decode(data: bytes) -> tuple[str, str] | Problem:
    """The text and its encoding: UTF-8 (with or without a BOM) if it decodes strictly,
    otherwise GB18030 (with or without its BOM). A trailing Ctrl-Z (the old end-of-file
    mark some bank systems still write) ends the text."""
    data = data.rstrip(b"\x1a")
    if data.startswith(_GB18030_BOM):
        data = data[len(_GB18030_BOM) :]
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM) :].decode("utf-8"), "utf-8"
        except UnicodeDecodeError as error:
            return Problem(
                data[: error.start + len(_UTF8_BOM)].count(b"\n") + 1,
                _("The file says it is UTF-8 but this line is not valid UTF-8."),
            )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as error:
        return Problem(
            data[: error.start].count(b"\n") + 1,
            _("This line is neither UTF-8 nor GB18030 text; is this the return file?"),
        )


def _text_records(text: str) -> list[_Record]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [
        _Record(number, [f.strip() for f in line.split(SEPARATOR)] if line.strip() else [])
        for number, line in enumerate(lines, start=1)
    ]


class PipeText:
    """The pipe-separated text file (the default)."""

    name = "txt"
    suffix = ".txt"
    content_type = "text/plain"

    def write(self, bank_file: BankFile, *, encoding: str) -> bytes:
        _check_encoding(encoding)
        records = bank_records(bank_file)
        text = "".join(SEPARATOR.join(fields) + NEWLINE for fields in records)
        return text.encode(encoding)

    def read(self, data: bytes) -> ReturnFile:
        problems = _size_problems(data)
        if problems:
            raise ReturnFileInvalid(problems)
        kind = _kind_problem(data, spreadsheet_ok=False)
        if kind is None and _looks_binary(data):
            kind = Problem(FILE, _("This is a binary file, not the text return file."))
        if kind is not None:
            raise ReturnFileInvalid([kind])
        decoded = _decode(data)
        if isinstance(decoded, Problem):
            if _controls(data):  # neither text nor clean: binary
                decoded = Problem(FILE, _("This is a binary file, not the text return file."))
            raise ReturnFileInvalid([decoded])
        text, encoding = decoded
        return _parse_records(_text_records(text), encoding, [])


# --- the .xlsx twin -------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """A cell's value as the field's text: numbers without a float's ".0", dates yyyymmdd."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return _date_text(value.date())
    if isinstance(value, datetime.date):
        return _date_text(value)
    return str(value).strip()


def _zip_problem(data: bytes) -> Problem | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return Problem(FILE, _("This is not a valid .xlsx workbook."))
    if unzipped > MAX_XLSX_UNZIPPED:
        return Problem(
            FILE,
            _("The workbook unpacks to more than %(limit)s MB.")
            % {"limit": MAX_XLSX_UNZIPPED // (1024 * 1024)},
        )
    return None


def _sheet_records(data: bytes, problems: list[Problem]) -> list[_Record]:
    """The first sheet's rows as records. Formulas are refused, so the sheet is read with
    ``data_only=False`` (one streaming pass): a formula cell then shows its formula, and a
    cached value is never taken for what the bank wrote."""
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False
        )
    except Exception:  # openpyxl raises many kinds for a broken file
        problems.append(Problem(FILE, _("This is not a valid .xlsx workbook.")))
        return []
    records: list[_Record] = []
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers declare a wrong size: read every row
        for row_no, row in enumerate(sheet.iter_rows(), start=1):
            texts: list[str] = []
            for column, cell in enumerate(row, start=1):
                value = cell.value
                formula = getattr(cell, "data_type", None) == "f" or (
                    isinstance(value, str) and value.startswith("=")
                )
                if formula:
                    problems.append(
                        Problem(
                            row_no,
                            _("The cell %(cell)s holds a formula %(text)s; write values only.")
                            % {
                                "cell": f"{get_column_letter(column)}{row_no}",
                                "text": repr(str(getattr(value, "text", value))),
                            },
                        )
                    )
                texts.append(_cell_text(value))
            while texts and not texts[-1]:
                texts.pop()  # a row is as long as its last filled cell
            if texts and texts[0] in (HEADER, DETAIL):
                # Empty trailing cells are empty fields (a sheet cannot tell them apart).
                expected = HEADER_FIELDS if texts[0] == HEADER else DETAIL_FIELDS
                texts += [""] * (expected - len(texts))
            records.append(_Record(row_no, texts))
    except Exception:
        problems.append(Problem(FILE, _("This is not a valid .xlsx workbook.")))
        return []
    finally:
        workbook.close()
    return records


class PipeXlsx:
    """The same records as rows of the first sheet, one cell per field, every cell text
    (so card and ID numbers keep all their digits)."""

    name = "xlsx"
    suffix = ".xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def write(self, bank_file: BankFile, *, encoding: str) -> bytes:
        _check_encoding(encoding)  # an .xlsx is always UTF-8 XML; checked for the same contract
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "bank file"
        for row_no, fields in enumerate(bank_records(bank_file), start=1):
            for column, text in enumerate(fields, start=1):
                cell = sheet.cell(row=row_no, column=column, value=text)
                cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()

    def read(self, data: bytes) -> ReturnFile:
        problems = _size_problems(data)
        if problems:
            raise ReturnFileInvalid(problems)
        kind = _kind_problem(data, spreadsheet_ok=True)
        if kind is None and not data.startswith(_ZIP):
            kind = Problem(FILE, _("This is not an .xlsx workbook (is it the text file?)."))
        if kind is None:
            kind = _zip_problem(data)
        if kind is not None:
            raise ReturnFileInvalid([kind])
        records = _sheet_records(data, problems)
        if not records and problems:
            raise ReturnFileInvalid(problems)
        return _parse_records(records, "utf-8", problems)


# --- the registry ---------------------------------------------------------------------------

FORMATS: dict[str, type[BankFormat]] = {PipeText.name: PipeText, PipeXlsx.name: PipeXlsx}
"""The formats by name; a county's bank format is added here."""


def format_get(name: str) -> BankFormat:
    """The format called ``name``; ``KeyError`` if there is none."""
    return FORMATS[name]()
