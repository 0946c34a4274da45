"""Bank file formats: the batch file written exactly, the return file read with every problem
reported at once (no database)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from payments import formats
from payments.formats import (
    FILE,
    FORMATS,
    MAX_RETURN_FILE,
    BankFile,
    BankFormat,
    BankLine,
    PipeText,
    PipeXlsx,
    Problem,
    ReturnFile,
    ReturnFileInvalid,
    ReturnLine,
    format_get,
)

DATE = datetime.date(2025, 3, 15)
CARD1, CARD2 = "6228480000000000001", "6228480000000000002"
ID1, ID2 = "110101198001010001", "110101198001010002"
PURPOSE = "到户产业扶持"


def _bank_file(*names: str) -> BankFile:
    amounts = [Decimal("5000"), Decimal("3000.50"), Decimal("200.00")]
    return BankFile(
        round_reference="R2025-001",
        date=DATE,
        lines=tuple(
            BankLine(
                reference=f"L{i}",
                account_name=name,
                card_number=f"622848000000000000{i}",
                amount=amounts[i - 1],
                id_number=f"11010119800101000{i}",
                purpose="到户产业扶持",
            )
            for i, name in enumerate(names, start=1)
        ),
    )


GOOD = [
    "H|R2025-001|20250315|2|8000.00",
    "D|L1|张三|6228480000000000001|5000.00|0000|成功|T0001",
    "D|L2|李四|6228480000000000002|3000.00|1001|户名不符|",
]


def _text(lines: list[str], encoding: str = "utf-8") -> bytes:
    return "".join(line + "\r\n" for line in lines).encode(encoding)


def _with(index: int, line: str, lines: list[str] | None = None) -> list[str]:
    """``lines`` (default ``GOOD``) with line ``index`` (0-based) replaced."""
    changed = list(GOOD if lines is None else lines)
    changed[index] = line
    return changed


def _problems(data: bytes, reader: BankFormat | None = None) -> list[Problem]:
    with pytest.raises(ReturnFileInvalid) as refused:
        (reader or PipeText()).read(data)
    problems = refused.value.problems
    assert problems
    for problem in problems:
        assert isinstance(problem.message, str) and problem.message.strip()
    return problems


def _line_nos(data: bytes, reader: BankFormat | None = None) -> list[int]:
    return [problem.line_no for problem in _problems(data, reader)]


# --- the bank file -----------------------------------------------------------------------


def test_bank_file_counts_and_totals_to_the_fen() -> None:
    bank_file = _bank_file("张三", "李四", "王五")

    assert bank_file.count == 3
    assert bank_file.total == Decimal("8200.50")
    assert str(bank_file.total) == "8200.50"
    assert str(BankFile("R", DATE, ()).total) == "0.00"


def test_pipe_text_write_gives_the_exact_bytes() -> None:
    data = PipeText().write(_bank_file("张三", "李四"), encoding="utf-8")

    assert (
        data
        == (
            "H|R2025-001|20250315|2|8000.50\r\n"
            "D|L1|张三|6228480000000000001|5000.00|110101198001010001|到户产业扶持\r\n"
            "D|L2|李四|6228480000000000002|3000.50|110101198001010002|到户产业扶持\r\n"
        ).encode()
    )


def test_pipe_text_write_uses_the_encoding_asked_for() -> None:
    bank_file = _bank_file("张三", "王䶮", "𠀀娃")

    gb = PipeText().write(bank_file, encoding="gb18030")
    utf8 = PipeText().write(bank_file, encoding="utf-8")

    assert b"\xd5\xc5\xc8\xfd" in gb  # 张三 in GB18030
    assert "张三".encode() not in gb
    assert "张三".encode() in utf8
    assert gb.decode("gb18030") == utf8.decode("utf-8")
    assert "王䶮|" in gb.decode("gb18030") and "𠀀娃|" in gb.decode("gb18030")


def test_pipe_text_write_writes_an_empty_round_as_a_header() -> None:
    data = PipeText().write(BankFile("R9", datetime.date(999, 1, 2), ()), encoding="utf-8")

    assert data == b"H|R9|09990102|0|0.00\r\n"


@pytest.mark.parametrize(
    "line, encoding",
    [
        (BankLine("L1", "张|三", "6228", Decimal("1.00"), "1101", "x"), "utf-8"),
        (BankLine("L1", "张三", "6228\r\nD|X", Decimal("1.00"), "1101", "x"), "utf-8"),
        (BankLine("L1", "张三", "6228", Decimal("1.001"), "1101", "x"), "utf-8"),
        (BankLine("L1", "张三", "6228", Decimal("-1.00"), "1101", "x"), "utf-8"),
        (BankLine("L1", "张三", "6228", Decimal("NaN"), "1101", "x"), "utf-8"),
        (BankLine("L1", "张三", "6228", Decimal("1.00"), "1101", "x"), "gbk"),
    ],
)
def test_pipe_text_write_refuses_what_would_corrupt_the_file(line: BankLine, encoding: str) -> None:
    with pytest.raises(ValueError):
        PipeText().write(BankFile("R1", DATE, (line,)), encoding=encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_pipe_text_round_trip_keeps_names_and_amounts(encoding: str) -> None:
    sent = PipeText().write(_bank_file("张三", "王䶮", "𠀀娃"), encoding=encoding)
    # The bank answers the same lines with a result instead of the ID number and purpose.
    answered = []
    for number, line in enumerate(sent.decode(encoding).split("\r\n")):
        fields = line.split("|")
        if fields[0] == "D":
            fields[5:] = ["0000", "成功", f"T{number}"]
        answered.append("|".join(fields))

    returned = PipeText().read("\r\n".join(answered).encode(encoding))

    assert returned.encoding == encoding
    assert returned.total == Decimal("8200.50") and returned.count == 3
    assert [line.account_name for line in returned.lines] == ["张三", "王䶮", "𠀀娃"]
    assert [line.amount for line in returned.lines] == [
        Decimal("5000.00"),
        Decimal("3000.50"),
        Decimal("200.00"),
    ]
    assert all(line.paid for line in returned.lines)


# --- reading a good return file ----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_pipe_text_read_parses_a_good_file(encoding: str) -> None:
    returned = PipeText().read(_text(GOOD, encoding))

    assert returned == ReturnFile(
        round_reference="R2025-001",
        date=DATE,
        count=2,
        total=Decimal("8000.00"),
        lines=(
            ReturnLine(2, "L1", "张三", CARD1, Decimal("5000.00"), "0000", "成功", "T0001"),
            ReturnLine(3, "L2", "李四", CARD2, Decimal("3000.00"), "1001", "户名不符", ""),
        ),
        encoding=encoding,
    )
    assert [line.paid for line in returned.lines] == [True, False]
    assert str(returned.lines[0].amount) == "5000.00"


def test_pipe_text_read_takes_a_bom_bare_newlines_spaces_and_trailing_blank_lines() -> None:
    lines = [
        " H | R2025-001 |20250315| 2 |8000",
        "D|L1|张三\u3000|6228480000000000001| 5000 |0000|成功|T0001",
        "D|L2|李四|6228480000000000002|3000.0|1001|户名不符|",
        "",
        "   ",
    ]
    data = b"\xef\xbb\xbf" + "\n".join(lines).encode()

    returned = PipeText().read(data)

    assert returned.encoding == "utf-8"
    assert returned.round_reference == "R2025-001" and returned.count == 2
    assert returned.lines[0].account_name == "张三"
    assert returned.lines[0].amount == Decimal("5000.00")
    assert returned.total == Decimal("8000.00")


def test_pipe_text_read_detects_gb18030_without_any_mark() -> None:
    assert PipeText().read(_text(GOOD, "gb18030")).encoding == "gb18030"
    assert PipeText().read(_text(GOOD, "utf-8")).encoding == "utf-8"


def test_pipe_text_read_takes_an_empty_round() -> None:
    returned = PipeText().read(b"H|R1|20250315|0|0.00\r\n")

    assert returned.lines == () and returned.total == Decimal("0.00")


# --- the file as a whole -----------------------------------------------------------------


def test_pipe_text_read_refuses_an_empty_file() -> None:
    assert _line_nos(b"") == [FILE]


def test_pipe_text_read_refuses_a_file_of_blank_lines() -> None:
    assert _line_nos(b"\r\n  \r\n") == [FILE]


def test_pipe_text_read_refuses_a_file_over_the_limit_and_says_the_limit() -> None:
    data = _text(GOOD) + b" " * (MAX_RETURN_FILE - len(_text(GOOD)) + 1)

    problems = _problems(data)

    assert [p.line_no for p in problems] == [FILE]
    assert "10" in problems[0].message


def test_pipe_text_read_refuses_a_spreadsheet_with_one_clear_problem() -> None:
    xlsx = PipeXlsx().write(_bank_file("张三"), encoding="utf-8")

    assert _line_nos(xlsx) == [FILE]


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
        "H|R1|20250315|0|0.00\r\n".encode("utf-16"),
    ],
    ids=["pdf", "binary", "png", "xls", "utf16"],
)
def test_pipe_text_read_refuses_a_binary_file_with_one_problem(data: bytes) -> None:
    assert _line_nos(data) == [FILE]


def test_pipe_text_read_refuses_undecodable_text_on_its_line() -> None:
    data = _text(GOOD[:2]) + b"D|L2|\xff\xff|6228|3000.00|0000|ok|T2\r\n"

    assert _line_nos(data) == [3]


# --- the header --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["H|R2025-001|20250315|2", "H|R2025-001|20250315|2|8000.00|extra", "H"],
)
def test_pipe_text_read_refuses_a_header_with_the_wrong_fields(header: str) -> None:
    assert _line_nos(_text(_with(0, header))) == [1]


def test_pipe_text_read_refuses_a_file_without_header() -> None:
    assert _line_nos(_text(GOOD[1:])) == [1]


def test_pipe_text_read_refuses_a_second_header() -> None:
    lines = [GOOD[0], GOOD[1], "H|R2025-002|20250316|0|0.00", GOOD[2]]

    problems = _problems(_text(lines))

    assert [p.line_no for p in problems] == [3]
    assert "1" in problems[0].message


def test_pipe_text_read_refuses_a_header_after_details() -> None:
    lines = [GOOD[1], GOOD[0], GOOD[2]]

    assert _line_nos(_text(lines)) == [2]


@pytest.mark.parametrize("date", ["20250230", "2025-03-15", "2025031", "", "２０２５０３１５"])
def test_pipe_text_read_refuses_a_bad_date(date: str) -> None:
    assert _line_nos(_text(_with(0, f"H|R2025-001|{date}|2|8000.00"))) == [1]


@pytest.mark.parametrize("count", ["-1", "two", "2.0", ""])
def test_pipe_text_read_refuses_a_count_that_is_not_a_whole_number(count: str) -> None:
    assert _line_nos(_text(_with(0, f"H|R2025-001|20250315|{count}|8000.00"))) == [1]


def test_pipe_text_read_refuses_a_header_without_round_reference() -> None:
    assert _line_nos(_text(_with(0, "H||20250315|2|8000.00"))) == [1]


def test_pipe_text_read_refuses_a_count_that_disagrees_with_the_lines() -> None:
    problems = _problems(_text(_with(0, "H|R2025-001|20250315|3|8000.00")))

    assert [p.line_no for p in problems] == [1]
    assert "3" in problems[0].message and "2" in problems[0].message


def test_pipe_text_read_refuses_a_total_that_disagrees_with_the_lines() -> None:
    problems = _problems(_text(_with(0, "H|R2025-001|20250315|2|8000.01")))

    assert [p.line_no for p in problems] == [1]
    assert "8000.01" in problems[0].message and "8000.00" in problems[0].message


@pytest.mark.parametrize("total", ["-8000.00", "8000.001", "8,000.00", "NaN"])
def test_pipe_text_read_refuses_a_total_that_is_not_an_amount(total: str) -> None:
    assert _line_nos(_text(_with(0, f"H|R2025-001|20250315|2|{total}"))) == [1]


# --- the detail lines --------------------------------------------------------------------


def test_pipe_text_read_refuses_a_reference_twice_naming_both_lines() -> None:
    lines = _with(2, "D|L1|李四|6228480000000000002|3000.00|0000|成功|T0002")

    problems = _problems(_text(lines))

    assert [p.line_no for p in problems] == [3]
    assert "2" in problems[0].message and "3" in problems[0].message
    assert "L1" in problems[0].message


def test_pipe_text_read_refuses_an_unknown_record_type() -> None:
    lines = [*GOOD[:2], "T|footer", GOOD[2]]

    problems = _problems(_text(lines))

    assert [p.line_no for p in problems] == [3]
    assert "T" in problems[0].message


@pytest.mark.parametrize(
    "amount",
    ["abc", "1,000.00", "¥5000", "5000元", "NaN", "Infinity", "1e3", "", ".5", "5.", "+5000"],
)
def test_pipe_text_read_refuses_an_amount_that_is_not_a_number(amount: str) -> None:
    line = f"D|L1|张三|6228480000000000001|{amount}|0000|成功|T0001"

    # Only the line: the total is not compared while an amount is unreadable.
    assert _line_nos(_text(_with(1, line))) == [2]


def test_pipe_text_read_refuses_a_negative_amount() -> None:
    lines = [
        "H|R2025-001|20250315|2|-2000.00",
        "D|L1|张三|6228480000000000001|-5000.00|0000|成功|T0001",
        GOOD[2],
    ]

    assert _line_nos(_text(lines)) == [1, 2]


def test_pipe_text_read_refuses_three_decimals() -> None:
    line = "D|L1|张三|6228480000000000001|5000.001|0000|成功|T0001"

    assert _line_nos(_text(_with(1, line))) == [2]


def test_pipe_text_read_refuses_a_detail_with_the_wrong_fields() -> None:
    assert _line_nos(_text(_with(1, "D|L1|张三|6228480000000000001|5000.00|0000|成功"))) == [2]


def test_pipe_text_read_refuses_an_empty_result_code_or_reference() -> None:
    lines = [
        GOOD[0],
        "D|L1|张三|6228480000000000001|5000.00|  |成功|T0001",
        "D||李四|6228480000000000002|3000.00|1001|户名不符|",
    ]

    assert _line_nos(_text(lines)) == [2, 3]


def test_pipe_text_read_refuses_a_blank_line_in_the_middle() -> None:
    lines = [GOOD[0], GOOD[1], "", GOOD[2], "", ""]

    assert _line_nos(_text(lines)) == [3]


def test_pipe_text_read_refuses_a_nul_byte_in_a_field() -> None:
    line = "D|L1|张\x00三|6228480000000000001|5000.00|0000|成功|T0001"

    assert _line_nos(_text(_with(1, line))) == [2]


def test_pipe_text_read_reports_every_problem_together() -> None:
    lines = [
        "H|R2025-001|20251301|4|9000.00",  # bad date; count 4 but 3 lines
        "D|L1|张三|6228480000000000001|-5000.00|0000|成功|T0001",  # negative
        "D|L2|李四|6228480000000000002|3000.00|1001|户名不符|",
        "",  # blank in the middle
        "D|L2|王五|6228480000000000003|200.00||失败|",  # same reference; no result code
        "X|what",  # unknown type
    ]

    problems = _problems(_text(lines, "gb18030"))

    assert [p.line_no for p in problems] == [1, 1, 2, 4, 5, 5, 6]
    assert len({p.message for p in problems}) == len(problems)
    assert str(ReturnFileInvalid(problems)).count(":") >= len(problems)


# --- the .xlsx twin ----------------------------------------------------------------------


def _sheet_rows(data: bytes) -> list[list[object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    return [row[: max(i for i, value in enumerate(row, 1) if value is not None)] for row in rows]


def _workbook(rows: list[list[object]]) -> tuple[Any, Any]:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    return workbook, sheet


def _xlsx(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_pipe_xlsx_write_puts_one_record_per_row_as_text() -> None:
    bank_file = _bank_file("张三", '=HYPERLINK("x")')

    data = PipeXlsx().write(bank_file, encoding="utf-8")

    assert data.startswith(b"PK\x03\x04")
    assert _sheet_rows(data) == [
        ["H", "R2025-001", "20250315", "2", "8000.50"],
        ["D", "L1", "张三", CARD1, "5000.00", ID1, PURPOSE],
        ["D", "L2", '=HYPERLINK("x")', CARD2, "3000.50", ID2, PURPOSE],
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["C3"].data_type == "s"  # a name starting with "=" stays text


def test_pipe_xlsx_read_parses_a_return_workbook() -> None:
    workbook, _sheet = _workbook(
        [
            ["H", "R2025-001", "20250315", 2, 8000],
            ["D", "L1", "张三", "6228480000000000001", 5000, "0000", "成功", "T0001"],
            ["D", "L2", " 李四 ", "6228480000000000002", "3000.00", "1001", "户名不符"],
            [],
        ]
    )

    returned = PipeXlsx().read(_xlsx(workbook))

    assert returned.round_reference == "R2025-001" and returned.date == DATE
    assert returned.count == 2 and returned.total == Decimal("8000.00")
    assert returned.lines == (
        ReturnLine(2, "L1", "张三", CARD1, Decimal("5000.00"), "0000", "成功", "T0001"),
        ReturnLine(3, "L2", "李四", CARD2, Decimal("3000.00"), "1001", "户名不符", ""),
    )


def test_pipe_xlsx_round_trip_reads_what_it_wrote_with_results_added() -> None:
    sent = PipeXlsx().write(_bank_file("张三", "王䶮"), encoding="gb18030")
    workbook = openpyxl.load_workbook(io.BytesIO(sent))
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows(min_row=2):
        row[5].value, row[6].value = "0000", "成功"
        sheet.cell(row=row[0].row, column=8, value=f"T{row[0].row}")

    returned = PipeXlsx().read(_xlsx(workbook))

    assert [line.account_name for line in returned.lines] == ["张三", "王䶮"]
    assert [line.bank_txn_id for line in returned.lines] == ["T2", "T3"]
    assert returned.total == Decimal("8000.50")


def test_pipe_xlsx_read_refuses_formulas_cell_by_cell() -> None:
    workbook, sheet = _workbook(
        [
            ["H", "R2025-001", "20250315", 2, "=E2+E3"],
            ["D", "L1", "张三", "6228480000000000001", 5000, "0000", "成功", "T0001"],
            ["D", "L2", "李四", "6228480000000000002", 3000, "1001", "户名不符", "x"],
        ]
    )
    text_cell = sheet.cell(row=3, column=8, value="=cmd|' /C calc'!A0")
    text_cell.data_type = "s"  # stored as text, still refused

    problems = _problems(_xlsx(workbook), PipeXlsx())

    formula_problems = [p for p in problems if "E1" in p.message or "H3" in p.message]
    assert [p.line_no for p in formula_problems] == [1, 3]
    assert {p.line_no for p in problems} == {1, 3}


def test_pipe_xlsx_read_refuses_a_blank_row_and_a_bad_amount_on_their_rows() -> None:
    workbook, _sheet = _workbook(
        [
            ["H", "R2025-001", "20250315", 2, "8000.00"],
            ["D", "L1", "张三", "6228480000000000001", "5,000", "0000", "成功", "T0001"],
            [],
            ["D", "L2", "李四", "6228480000000000002", 3000, "1001", "户名不符"],
        ]
    )

    assert _line_nos(_xlsx(workbook), PipeXlsx()) == [2, 3]


@pytest.mark.parametrize(
    "data",
    [b"", _text(GOOD), b"PK\x03\x04not really a zip", b"%PDF-1.4\n"],
    ids=["empty", "text", "broken-zip", "pdf"],
)
def test_pipe_xlsx_read_refuses_what_is_not_a_workbook(data: bytes) -> None:
    assert _line_nos(data, PipeXlsx()) == [FILE]


# --- the registry ------------------------------------------------------------------------


def test_format_get_finds_each_format_by_name() -> None:
    assert isinstance(format_get("txt"), PipeText)
    assert isinstance(format_get("xlsx"), PipeXlsx)
    assert set(FORMATS) == {"txt", "xlsx"}
    for name, kind in FORMATS.items():
        assert kind.name == name and kind.suffix == f".{name}" and kind.content_type


def test_format_get_refuses_an_unknown_name() -> None:
    with pytest.raises(KeyError):
        format_get("csv")


class TabSeparated:
    """A county bank's own layout for the test: the default fields, tab-separated."""

    name = "tab"
    suffix = ".tsv"
    content_type = "text/tab-separated-values"

    def write(self, bank_file: formats.BankFile, *, encoding: str) -> bytes:
        return formats.PipeText().write(bank_file, encoding=encoding).replace(b"|", b"\t")

    def read(self, data: bytes) -> formats.ReturnFile:
        return formats.PipeText().read(data.replace(b"\t", b"|"))


@pytest.mark.django_db
def test_a_countys_own_format_is_sent_and_read_back(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.models import PaymentRound
    from payments.services.bank_files import bank_file_export, bank_return_import
    from payments.services.rounds import payment_round_approve, payment_round_create
    from tests.factories import COUNTY, all_paid, return_file
    from tests.payments.test_services import payable

    monkeypatch.setitem(formats.FORMATS, "tab", TabSeparated)
    payable(world, 2)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)

    sent = bank_file_export(actor=world.user("finance_a"), round_id=round_.pk, fmt="tab")
    round_.refresh_from_db()
    answer = return_file(round_, all_paid(round_)).replace(b"|", b"\t")
    outcome = bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=answer)

    assert b"\t" in sent.data and b"|" not in sent.data and sent.name.endswith(".tsv")
    assert round_.bank_format == "tab"
    assert outcome.paid == 2
    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.RECONCILED
