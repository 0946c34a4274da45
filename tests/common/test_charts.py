"""The geometry of the server-drawn charts."""

from __future__ import annotations

from decimal import Decimal

from common.charts import PALETTE, bar_chart, grouped_chart, stacked_chart


def test_the_largest_bar_fills_the_area_and_others_scale() -> None:
    chart = bar_chart([("甲", 10, ""), ("乙", 5, "/x"), ("丙", 0, "")])

    assert [b.width for b in chart.bars] == [300, 150, 0]
    assert [b.y for b in chart.bars] == [0, 22, 44]
    assert chart.height == 66 and chart.bars[1].link == "/x"


def test_stacked_parts_follow_each_other_and_the_largest_total_fills() -> None:
    chart = stacked_chart([("东洞乡", [2, 6], ""), ("泉湖乡", [1, 1], "")], ["甲", "乙"])

    first, second = chart.rows
    assert [s.x for s in first.segments] == [150, 150 + 80]
    assert sum(s.width for s in first.segments) == 320 and first.total == 8
    assert sum(s.width for s in second.segments) == 80
    assert [s.color for s in first.segments] == list(PALETTE[:2])
    assert first.end_x == 150 + 320 + 6
    assert chart.series == (("甲", PALETTE[0]), ("乙", PALETTE[1]))


def test_grouped_bars_share_one_scale_and_sit_one_under_another() -> None:
    chart = grouped_chart(
        [("到户产业扶持", [Decimal("100"), Decimal("50"), Decimal("0")], "")],
        ["allocated", "committed", "paid"],
    )

    (row,) = chart.rows
    assert [s.width for s in row.segments] == [320, 160, 0]
    assert [s.y for s in row.segments] == [4, 13, 22]
    assert chart.grouped and chart.height == 9 * 3 + 10


def test_an_empty_chart_has_a_height_and_no_rows() -> None:
    assert stacked_chart([], ["a"]).rows == ()
    assert stacked_chart([], ["a"]).height > 0
    assert grouped_chart([("x", [0, 0], "")], ["a", "b"]).rows[0].segments[0].width == 0
