"""Charts drawn on the server as SVG: horizontal bars, one row per label, either one bar per
row (``bar_chart``), bars stacked by series (``stacked_chart``: parts of a whole), or bars
side by side by series (``grouped_chart``: amounts to compare). Only the geometry is
computed here; ``templates/charts/chart.html`` draws it. Nothing is fetched when a page
loads, and every chart is shown with its table beside it (the figures for a screen reader,
a printout and a copy into a spreadsheet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

Number = int | Decimal

# Distinct on white and in greyscale print; the first is the site's red.
PALETTE = (
    "#b42318",
    "#0b57d0",
    "#1a7f37",
    "#b54708",
    "#6941c6",
    "#0e7490",
    "#59636e",
    "#c11574",
)


@dataclass(frozen=True)
class Bar:
    label: str
    value: Number
    # Geometry in the SVG's own units (the chart scales to its box).
    y: int
    width: int
    link: str = ""


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]
    height: int
    label_width: int = 180
    bar_area: int = 300
    row: int = 22

    @property
    def value_x(self) -> int:
        return self.label_width + 6


def bar_chart(rows: Sequence[tuple[str, int, str]]) -> BarChart:
    """Horizontal bars for (label, value, link) rows, longest bar for the largest value."""
    top = max((value for _label, value, _link in rows), default=0) or 1
    chart = BarChart(bars=(), height=0)
    bars = tuple(
        Bar(
            label=label,
            value=value,
            y=index * chart.row,
            width=max(1, round(chart.bar_area * value / top)) if value else 0,
            link=link,
        )
        for index, (label, value, link) in enumerate(rows)
    )
    return BarChart(bars=bars, height=max(chart.row, len(bars) * chart.row))


@dataclass(frozen=True)
class Segment:
    series: str
    value: Number
    color: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Row:
    label: str
    y: int
    segments: tuple[Segment, ...]
    total: Number
    # Where the row's figure is written: after its longest bar.
    end_x: int
    link: str = ""


@dataclass(frozen=True)
class SeriesChart:
    rows: tuple[Row, ...]
    series: tuple[tuple[str, str], ...]  # (label, colour)
    height: int
    grouped: bool
    label_width: int = 150
    bar_area: int = 320
    width: int = 150 + 320 + 90


def _scale(top: Number, bar_area: int, value: Number) -> int:
    if not value or not top:
        return 0
    return max(1, round(bar_area * float(value) / float(top)))


def stacked_chart(
    rows: Sequence[tuple[str, Sequence[Number], str]], series: Sequence[str]
) -> SeriesChart:
    """One bar per (label, values by series, link) row, its parts stacked in series order;
    the longest bar is the largest total."""
    line, bar = 24, 16
    top = max((sum(values) for _l, values, _k in rows), default=0)
    out: list[Row] = []
    for index, (label, values, link) in enumerate(rows):
        y, x = index * line, 150
        segments = []
        for name, value, color in zip(series, values, PALETTE * 4, strict=False):
            width = _scale(top, 320, value)
            segments.append(Segment(name, value, color, x, y + 4, width, bar))
            x += width
        out.append(Row(label, y, tuple(segments), sum(values), x + 6, link))
    return SeriesChart(
        rows=tuple(out),
        series=tuple(zip(series, PALETTE * 4, strict=False)),
        height=max(line, len(out) * line),
        grouped=False,
    )


def grouped_chart(
    rows: Sequence[tuple[str, Sequence[Number], str]], series: Sequence[str]
) -> SeriesChart:
    """For each (label, values by series, link) row, one thin bar per series, side by side
    (amounts to compare: allocated, committed, paid); one scale for all."""
    bar = 9
    line = bar * len(series) + 10
    top = max((max(values, default=0) for _l, values, _k in rows), default=0)
    out: list[Row] = []
    for index, (label, values, link) in enumerate(rows):
        y = index * line
        segments = tuple(
            Segment(name, value, color, 150, y + 4 + i * bar, _scale(top, 320, value), bar - 1)
            for i, (name, value, color) in enumerate(zip(series, values, PALETTE * 4, strict=False))
        )
        end = max((s.width for s in segments), default=0)
        out.append(Row(label, y, segments, max(values, default=0), 150 + end + 6, link))
    return SeriesChart(
        rows=tuple(out),
        series=tuple(zip(series, PALETTE * 4, strict=False)),
        height=max(line, len(out) * line),
        grouped=True,
    )
