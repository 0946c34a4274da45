"""The departments' list formats (``crosscheck.formats``): headers fitted to the kind, and
each row read or refused with its reason."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from common.sheets import Formula, RowProblem, digits_lost_message
from crosscheck.formats import ParsedRow, header_positions, row_parse
from crosscheck.models import ReferenceList
from tests.factories import id_number

K = ReferenceList.Kind
AS_OF = date(2026, 11, 1)


def test_headers_found_in_any_order_with_either_brackets() -> None:
    positions = header_positions(K.VEHICLE, ["姓名", "车辆价值(元)", "备注", " 身份证号 ", "号牌"])
    assert positions == {"身份证号": 3, "姓名": 0, "号牌": 4, "车辆价值（元）": 1}


def test_missing_headers_are_named() -> None:
    assert header_positions(K.DECEASED, ["身份证号", "姓名"]) == ["死亡日期"]


def _vehicle(value: object, plate: object = "甘F1") -> ParsedRow | RowProblem:
    cells = [id_number(), "王明", plate, value]
    positions = {"身份证号": 0, "姓名": 1, "号牌": 2, "车辆价值（元）": 3}
    return row_parse(K.VEHICLE, 2, cells, positions, as_of=AS_OF)


def test_amounts_in_the_ways_offices_write_them() -> None:
    for raw in ("45,000元", "45000", 45000, 45000.0, "45000.00"):
        parsed = _vehicle(raw)
        assert isinstance(parsed, ParsedRow) and parsed.value == Decimal("45000.00"), raw


def test_negative_or_unreadable_amount_is_a_problem() -> None:
    for raw in ("-5", "很多", True):
        assert isinstance(_vehicle(raw), RowProblem), raw


def test_optional_column_may_be_empty() -> None:
    parsed = _vehicle("45000", plate=None)
    assert isinstance(parsed, ParsedRow) and parsed.detail == ""


def test_dates_in_the_ways_offices_write_them() -> None:
    positions = {"身份证号": 0, "姓名": 1, "死亡日期": 2}
    for raw in (
        "2025-06-01",
        "2025/6/1",
        "20250601",
        "2025.06.01",
        "2025年6月1日",
        datetime(2025, 6, 1),
    ):
        parsed = row_parse(K.DECEASED, 2, [id_number(), "王明", raw], positions, as_of=AS_OF)
        assert isinstance(parsed, ParsedRow) and parsed.date == date(2025, 6, 1), raw


def test_formula_anywhere_is_a_problem() -> None:
    positions = {"身份证号": 0, "姓名": 1, "单位": 2}
    parsed = row_parse(
        K.PUBLIC_SERVANT, 5, [id_number(), "王明", Formula("=A1")], positions, as_of=AS_OF
    )
    assert isinstance(parsed, RowProblem) and (parsed.row, parsed.column) == (5, "单位")


def test_names_are_normalised_and_ids_upper_cased() -> None:
    number = id_number()
    positions = {"身份证号": 0, "姓名": 1, "单位": 2}
    parsed = row_parse(
        K.PUBLIC_SERVANT, 2, [number.lower() + " ", "阿依古丽•买买提", "局"], positions, as_of=AS_OF
    )
    assert isinstance(parsed, ParsedRow)
    assert parsed.name == "阿依古丽·买买提"
    assert parsed.id_masked.endswith(number[-4:])


def test_an_id_number_typed_as_a_number_is_refused_though_it_reads_as_a_valid_one() -> None:
    # Serial 18's number as Excel keeps it when typed as a number (15 digits, then zeros,
    # held as a binary number) reads as another person's valid number: matched, it would
    # make a lead against someone who is on no list (tests.applications.test_registry_sheet).
    lossy = float(id_number(serial=18)[:15] + "000")
    positions = {"身份证号": 0, "姓名": 1, "死亡日期": 2}

    parsed = row_parse(K.DECEASED, 2, [lossy, "王明", "2025-06-01"], positions, as_of=AS_OF)

    assert parsed == RowProblem(2, "身份证号", digits_lost_message())
