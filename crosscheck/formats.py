"""The lists other departments send, kind by kind: their columns (Chinese headers, as the
departments write them), and each row read into what a ``ReferenceRow`` keeps, or the
reason it cannot be (a bad ID number, a missing value), by row and column."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from applications import idnumbers
from common.sheets import (
    CONTROL_CHARACTERS,
    Cell,
    Formula,
    RowProblem,
    cell_digits_lost,
    digits_lost_message,
    header_key,
)
from common.sheets import cell_text as _text
from common.sheets import cell_unquoted as _unquoted
from crosscheck.models import ReferenceList

Kind = ReferenceList.Kind

ID, NAME = "身份证号", "姓名"


@dataclass(frozen=True)
class Column:
    header: str
    # Which field of the row it fills: detail, category, value or date.
    field: str
    required: bool = True


COLUMNS: dict[str, tuple[Column, ...]] = {
    Kind.PUBLIC_SERVANT: (Column("单位", "detail"),),
    Kind.VEHICLE: (Column("号牌", "detail", required=False), Column("车辆价值（元）", "value")),
    Kind.PROPERTY: (Column("坐落", "detail", required=False), Column("类型", "category")),
    Kind.BUSINESS: (Column("企业名称", "detail", required=False), Column("登记状态", "category")),
    Kind.DECEASED: (Column("死亡日期", "date"),),
    Kind.MOVED_OUT: (Column("迁出日期", "date"),),
}


def headers_of(kind: str) -> list[str]:
    return [ID, NAME, *(c.header for c in COLUMNS[kind])]


def header_positions(kind: str, cells: list[Cell]) -> dict[str, int] | list[str]:
    """Where each of the kind's headers is in the header row, or the headers missing."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        found.setdefault(header_key(cell), index)
    positions: dict[str, int] = {}
    missing: list[str] = []
    for header in headers_of(kind):
        at = found.get(header_key(header))
        if at is None:
            missing.append(header)
        else:
            positions[header] = at
    return missing or positions


@dataclass(frozen=True)
class ParsedRow:
    row: int
    id_hash: str
    id_masked: str
    name: str
    detail: str = ""
    category: str = ""
    value: Decimal | None = None
    date: datetime.date | None = None


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")


def _date(cell: Cell) -> datetime.date:
    if isinstance(cell, datetime.datetime):
        return cell.date()
    if isinstance(cell, datetime.date):
        return cell
    text = _text(cell)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date
        except ValueError:
            continue
    raise ValueError(text)


def _value(cell: Cell) -> Decimal:
    if isinstance(cell, bool):
        raise ValueError(cell)
    if isinstance(cell, int | float | Decimal):
        amount = Decimal(str(cell))
    else:
        text = _text(cell).replace(",", "").replace("，", "").removesuffix("元")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(text) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ValueError(cell)
    amount = amount.quantize(Decimal("0.01"))
    if amount >= Decimal("1e12"):  # 999999999999.995 rounds up past the column
        raise ValueError(cell)
    return amount


_CONVERT: dict[str, Callable[[Cell], Any]] = {
    "detail": lambda c: _text(c)[:200],
    "category": lambda c: _text(c)[:40],
    "value": _value,
    "date": _date,
}


def _bad_value_message(field: str) -> str:
    if field == "value":
        return _("Write the amount in yuan as a number, such as 45000.")
    if field == "date":
        return _("Write the date as 2024-03-01.")
    return _("This value cannot be read.")


def row_parse(
    kind: str, number: int, cells: list[Cell], positions: dict[str, int], *, as_of: datetime.date
) -> ParsedRow | RowProblem:
    """One data row: what is kept, or the first reason it cannot be."""

    def cell(header: str) -> Cell:
        index = positions[header]
        return _unquoted(cells[index]) if index < len(cells) else None

    for header in positions:
        value = cell(header)
        # The formula is not repeated: it may hold an ID number.
        if isinstance(value, Formula):
            return RowProblem(number, header, _("The cell holds a formula; write values only."))
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
            return RowProblem(
                number, header, _("The cell holds control characters; write plain text.")
            )
    if cell_digits_lost(cell(ID)):
        return RowProblem(number, ID, digits_lost_message())
    raw_id = _text(cell(ID))
    if not raw_id:
        return RowProblem(number, ID, _("The ID number is missing."))
    try:
        number_id = idnumbers.validate_id_number(raw_id)
    except ValidationError as error:
        return RowProblem(number, ID, " ".join(str(m) for m in error.messages))
    name = idnumbers.normalize_person_name(_text(cell(NAME)))[:50]
    if not name:
        return RowProblem(number, NAME, _("The name is missing."))
    values: dict[str, Any] = {}
    for column in COLUMNS[kind]:
        raw = cell(column.header)
        if raw is None or _text(raw) == "":
            if column.required:
                return RowProblem(
                    number,
                    column.header,
                    _("The %(column)s is missing.") % {"column": column.header},
                )
            continue
        try:
            values[column.field] = _CONVERT[column.field](raw)
        except ValueError:
            return RowProblem(number, column.header, _bad_value_message(column.field))
        if column.field == "date" and values["date"] > as_of:
            return RowProblem(
                number,
                column.header,
                _("The date is after the list's own date (%(as_of)s).") % {"as_of": as_of},
            )
    return ParsedRow(
        row=number,
        id_hash=idnumbers.lookup_hash(number_id),
        id_masked=idnumbers.mask_id_number(number_id),
        name=name,
        **values,
    )
