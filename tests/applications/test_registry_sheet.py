"""The registry sheet's layout, read without the database: what a row becomes, and what
is a problem."""

from __future__ import annotations

import io

import pytest

from applications import idnumbers
from applications.models import Household, Person
from applications.registry_sheet import HEADERS, SheetRead, registry_sheet_read
from common.sheets import cell_text, digits_lost_message, sheet_rows
from tests.applications.test_imports import as_csv, as_xlsx, household_rows
from tests.factories import id_number


def read(rows: list[list[object]], *, xlsx: bool = False) -> SheetRead:
    file = as_xlsx(rows) if xlsx else as_csv(rows)
    return registry_sheet_read(sheet_rows(file, name="a.xlsx" if xlsx else "a.csv"))


def test_rows_of_one_household_need_not_be_together() -> None:
    first, second = household_rows("1", members=1), household_rows("2", members=1)
    rows = [second[1], first[0], second[0], first[1]]

    result = read(rows)

    assert result.problems.count == 0
    households = result.households
    assert [len(households[k].people) for k in ("1", "2")] == [2, 2]
    assert households["2"].row == 4 and households["2"].first_row == 2


def test_relations_types_and_causes_are_read_in_their_chinese_names() -> None:
    rows = household_rows("1", members=4)
    rows[0][6] = "因学，缺技术；缺劳力"
    rows[0][5] = "特困供养贫困户"
    rows[4][4] = "外孙子女"

    draft = read(rows).households["1"]

    assert draft.household_type == Household.Kind.EXTREME
    assert draft.causes == [
        Household.Cause.SCHOOLING,
        Household.Cause.SKILLS,
        Household.Cause.LABOUR,
    ]
    assert [p.relation for p in draft.members] == [
        Person.Relation.SPOUSE,
        Person.Relation.CHILD,
        Person.Relation.PARENT,
        Person.Relation.GRANDCHILD,
    ]


# Serial 18's number, 62090219600119018X, typed into Excel as a number: Excel keeps its first
# 15 digits and zeros after them, and the workbook holds that as a binary number, which
# reads back as 620902196001190016: another valid ID number. Its check digit cannot tell.
TYPED_AS_A_NUMBER = float(id_number(serial=18)[:15] + "000")


def test_an_id_number_typed_as_a_number_loses_digits_and_is_reported() -> None:
    assert idnumbers.validate_id_number(cell_text(TYPED_AS_A_NUMBER)) == "620902196001190016"
    rows = household_rows("1")
    rows[1][3] = TYPED_AS_A_NUMBER

    result = read(rows, xlsx=True)

    assert [(p.row, p.column, p.message) for p in result.problems.kept] == [
        (3, "身份证号", digits_lost_message())
    ]


def test_a_card_number_typed_as_a_number_is_reported_whatever_its_check_digit() -> None:
    rows = household_rows("1")
    # 16 digits: exact here, but Excel would have kept 15 and written the last as 0.
    rows[0][7] = float("6217000000000123")

    result = read(rows, xlsx=True)

    assert [(p.row, p.column, p.message) for p in result.problems.kept] == [
        (2, "银行卡号", digits_lost_message())
    ]


def test_a_short_number_typed_as_a_number_is_read() -> None:
    rows = household_rows("1")
    rows[0][9] = 13809370000.0  # a phone number as a spreadsheet's number: exact

    result = read(rows, xlsx=True)

    assert result.problems.count == 0
    assert result.households["1"].phone == "13809370000"


def test_more_than_thirty_people_in_a_household_is_a_problem() -> None:
    rows = household_rows("1", members=30)

    result = read(rows)

    assert [(p.row, p.column) for p in result.problems.kept] == [(32, "户编号")]


@pytest.mark.parametrize("header", [list(HEADERS), [h.replace("号", " 号") for h in HEADERS]])
def test_headers_may_be_spaced_and_reordered(header: list[str]) -> None:
    rows = household_rows("1")
    order = list(reversed(range(len(header))))
    body = [[(r + [""] * 10)[i] for i in order] for r in rows]

    result = registry_sheet_read(sheet_rows(as_csv(body, header=[header[i] for i in order])))

    assert result.problems.count == 0 and result.persons == 3


def test_problems_kept_are_capped_but_all_counted() -> None:
    rows = [r for i in range(20) for r in household_rows(str(i), members=0)]
    for r in rows:
        r[5] = "?"

    result = registry_sheet_read(sheet_rows(as_csv(rows)), keep=5)

    assert result.problems.count == 20 and len(result.problems.kept) == 5


def test_an_empty_sheet_is_reported() -> None:
    result = registry_sheet_read(sheet_rows(io.BytesIO(b"\n\n")))

    assert result.fatal and result.problems.count == 1


def _head_row_with(column: int, value: object) -> list[list[object]]:
    rows: list[list[object]] = [list(r) for r in household_rows("1")]
    rows[0][column] = value
    return rows


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        (2, "王" * 51, (2, "姓名")),
        (6, "", (2, "致贫原因")),
        (8, "", (2, "开户名")),
    ],
)
def test_a_head_rows_long_name_or_missing_causes_or_holder_is_reported(
    column: int, value: str, problem: tuple[int, str]
) -> None:
    result = read(_head_row_with(column, value))

    assert problem in [(p.row, p.column) for p in result.problems.kept]


def test_a_row_without_a_household_number_or_with_too_long_a_one_is_reported() -> None:
    rows = household_rows("1") + household_rows("2")
    rows[1][0] = ""
    rows[4][0] = "9" * 41

    result = read(rows)

    assert [(p.row, p.column) for p in result.problems.kept] == [(3, "户编号"), (6, "户编号")]
    assert result.persons == 4  # the two rows without a household are not read


def test_empty_parts_between_causes_are_skipped() -> None:
    result = read(_head_row_with(6, "因病、、缺资金"))

    assert result.problems.count == 0
    assert result.households["1"].causes == [Household.Cause.ILLNESS, Household.Cause.CAPITAL]
