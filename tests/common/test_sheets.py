"""Tables read from files (``common.sheets``): workbooks and CSV in the encodings Chinese
offices write, row by row, formulas kept as formulas."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from common.sheets import Formula, SheetError, cell_digits_lost, sheet_rows


def _rows(data: bytes, name: str = "") -> list[tuple[int, list[object]]]:
    return list(sheet_rows(io.BytesIO(data), name=name))


def test_csv_in_utf8_with_a_byte_order_mark() -> None:
    data = "\ufeff身份证号,姓名\r\n1,王明\r\n".encode()
    assert _rows(data) == [(1, ["身份证号", "姓名"]), (2, ["1", "王明"])]


def test_csv_in_gb18030() -> None:
    data = "身份证号,姓名\r\n1,䶮明\r\n".encode("gb18030")
    assert _rows(data)[1] == (2, ["1", "䶮明"])


def test_csv_trailing_empty_cells_and_blank_rows() -> None:
    assert _rows(b"a,b,,\r\n\r\n,,\r\n") == [(1, ["a", "b"]), (2, []), (3, [])]


def test_csv_formula_is_kept_as_a_formula() -> None:
    ((_, cells),) = _rows(b'1,=HYPERLINK("x")\r\n')
    assert cells[1] == Formula('=HYPERLINK("x")')


def test_workbook_cells_keep_their_types_and_formulas() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "价值", "日期", "公式"])
    sheet.append(["王明", 45000, datetime(2025, 6, 1), "=1+1"])
    out = io.BytesIO()
    book.save(out)
    rows = _rows(out.getvalue(), "x.xlsx")
    assert rows[1][1][:3] == ["王明", 45000, datetime(2025, 6, 1)]
    assert isinstance(rows[1][1][3], Formula)


def test_binary_file_is_refused() -> None:
    with pytest.raises(SheetError):
        _rows(b"\x00\x01binary")


def test_broken_workbook_is_refused() -> None:
    with pytest.raises(SheetError):
        _rows(b"PK\x03\x04not really a zip")


def test_workbook_name_without_a_workbook_is_refused() -> None:
    with pytest.raises(SheetError):
        _rows(b"a,b\r\n", "list.xlsx")


def test_text_in_no_known_encoding_is_refused() -> None:
    # UTF-8 at first, then bytes neither UTF-8 nor GB18030 beyond the sampled part.
    data = b"a,b\r\n" * 300_000 + b"\xff\xff\xff\r\n"
    with pytest.raises(SheetError):
        _rows(data)


@pytest.mark.parametrize(
    ("cell", "lost"),
    [
        (6.20902196001060e17, True),  # an ID number as Excel keeps it: 15 digits, then 0s
        (6217000000000120, True),  # 16 digits as a whole number: the 16th is not kept
        (Decimal("1E+15"), True),
        (float("-inf"), True),
        (999_999_999_999_999, False),  # 15 digits: exact
        (13809370000.0, False),
        (float("nan"), False),
        (Decimal("NaN"), False),
        (True, False),
        ("620902196001210208", False),  # text keeps every digit
        (None, False),
    ],
)
def test_a_number_longer_than_a_spreadsheet_keeps_is_flagged(cell: object, lost: bool) -> None:
    assert cell_digits_lost(cell) is lost
