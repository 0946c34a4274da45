"""The process diagram of the application page.

Positions come from viewflow's own layout of the flow (``viewflow.workflow.chart``: the grid,
the shapes and the routed edges); the drawing is ours (the template
``workflows/review/_process_diagram.html`` and ``site.css``), so it matches the pages, names
each node by its translated title (``.Annotation(title=...)`` in ``workflows/flows.py``) and
shows where one application stands: each node done, current (an open task waits there),
stopped (withdrawn) or not reached yet.

The layout depends only on the flow class: it is computed once per class and kept. Labels
are wrapped per request, in the user's language. Nothing here reads the database: the
states come from ``workflows.selectors.process_diagram``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from viewflow.workflow import chart

# Drawing units are the layout's (a task box is 150 × 100).
MARGIN_X = 24  # room for labels under the first and last node
MARGIN_Y = 8
BOX_FONT = 17
SMALL_FONT = 14
LINE_HEIGHT = 1.25
BOX_PADDING = 8
SMALL_LABEL_WIDTH = 84  # labels under events and gateways: about the gap between columns
BADGE_FONT = 14

DONE, CURRENT, STOPPED, TODO = "done", "current", "stopped", "todo"
TASK_KINDS = ("human", "system")


def state_labels() -> dict[str, str]:
    return {
        CURRENT: _("current step"),
        DONE: _("done"),
        STOPPED: _("stopped (withdrawn)"),
        TODO: _("not reached yet"),
    }


# --- the layout (per flow class, cached) ----------------------------------------------------


@dataclass(frozen=True)
class Box:
    """One node as laid out: its grid place and its shape's rectangle."""

    name: str
    kind: str  # start, end, event, gateway, human (a person's task), system
    title: Any  # the node's title, translated when turned into text
    col: int
    row: int
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Line:
    src: str
    dst: str
    kind: str  # forward; "return" (back to an earlier step); "reject" (to the rejection end)
    points: tuple[tuple[int, int], ...]

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{x} {y}" for i, (x, y) in enumerate(self.points))


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    boxes: tuple[Box, ...]
    lines: tuple[Line, ...]


def _kind(node: Any) -> str:
    element = str(getattr(node, "bpmn_element", "") or "")
    if element == "startEvent":
        return "start"
    if element == "endEvent":
        return "end"
    if element.endswith("Gateway"):
        return "gateway"
    if element in ("userTask", "manualTask"):
        return "human"
    if element.endswith("Task"):
        return "system"
    return "event"


def _line_kind(src: Box, dst: Box) -> str:
    # The legend names these two after the application states they lead to.
    if dst.kind == "end" and dst.name == "rejected":
        return "reject"
    if dst.col <= src.col:
        return "return"  # a loop back: in this flow, returned for correction
    return "forward"


@cache
def flow_layout(flow_class: type) -> Layout:
    """viewflow's layout of the flow (``chart.calc_layout_data``), as plain data."""
    grid = chart.calc_layout_data(flow_class)
    boxes = {
        cell.node.name: Box(
            name=cell.node.name,
            kind=_kind(cell.node),
            title=cell.node.task_title,
            col=int(cell.col),
            row=int(cell.row),
            x=int(cell.shape.x),
            y=int(cell.shape.y),
            width=int(cell.shape.width),
            height=int(cell.shape.height),
        )
        for cell in grid.cells
    }
    lines = []
    for edge in grid.edges:
        src, dst = boxes[edge.src.name], boxes[edge.dst.name]
        points = tuple((int(x), int(y)) for x, y in edge.segments)
        if len(points) >= 2:
            lines.append(Line(src=src.name, dst=dst.name, kind=_line_kind(src, dst), points=points))
    ordered = sorted(boxes.values(), key=lambda b: (b.col, b.row))
    return Layout(
        width=int(grid.width), height=int(grid.height), boxes=tuple(ordered), lines=tuple(lines)
    )


# --- labels ---------------------------------------------------------------------------------


def _em(text: str) -> float:
    """Approximate width in em: CJK characters are square, Latin ones about half as wide."""
    return sum(
        1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.3 if ch == " " else 0.56
        for ch in text
    )


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Pieces a line may break between, each with whether a space precedes it: Latin words,
    single CJK characters, and bracketed groups kept whole (“（村）”)."""
    out: list[tuple[str, bool]] = []
    for word in text.split():
        first = True
        for part in re.findall(r"[（(][^）)]*[）)]?|[^（(]+", word):
            wide = not part.startswith(("（", "(")) and _em(part[0]) == 1.0
            for piece in list(part) if wide else [part]:
                out.append((piece, first))
                first = False
    return out


def wrap(text: str, max_em: float, max_lines: int = 3) -> list[str]:
    """``text`` in lines of at most ``max_em`` (a single long word may exceed it)."""
    lines: list[str] = []
    current = ""
    for token, spaced in _tokens(text):
        joined = f"{current} {token}" if spaced and current else current + token
        if current and _em(joined) > max_em:
            lines.append(current)
            current = token
        else:
            current = joined
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + "…"]
    return lines


# --- one application's diagram (per request) ------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str
    x: float
    y: float


@dataclass(frozen=True)
class Badge:
    text: str
    x: int
    y: int
    width: int
    height: int
    font_size: int = BADGE_FONT

    @property
    def text_x(self) -> float:
        return self.x + self.width / 2

    @property
    def text_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    state: str
    label: str
    state_label: str
    x: int
    y: int
    width: int
    height: int
    text: tuple[Text, ...]
    font_size: int
    badge: Badge | None

    @property
    def is_task(self) -> bool:
        return self.kind in TASK_KINDS

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def r(self) -> float:
        return min(self.width, self.height) / 2 - (2 if self.kind == "end" else 1)

    @property
    def diamond(self) -> str:
        x, y, w, h = self.x, self.y, self.width, self.height
        return f"M{x + w / 2} {y} L{x + w} {y + h / 2} L{x + w / 2} {y + h} L{x} {y + h / 2} Z"

    @property
    def cross(self) -> str:
        """The exclusive gateway's marker."""
        cx, cy, d = self.cx, self.cy, self.width / 7
        return f"M{cx - d} {cy - d} L{cx + d} {cy + d} M{cx + d} {cy - d} L{cx - d} {cy + d}"

    @property
    def check(self) -> str:
        """The tick in the top right corner of a done task."""
        x, y = self.x + self.width - 24, self.y + 14
        return f"M{x} {y} l5 5 l10 -11"


@dataclass(frozen=True)
class Step:
    """A node in the text version of the diagram (the list beside it)."""

    name: str
    label: str
    state: str
    state_label: str


@dataclass(frozen=True)
class Diagram:
    view_box: str
    width: int
    height: int
    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]
    headline: str  # where the application stands: the current step(s), or how it ended
    summary: str  # the accessible name: the headline
    description: str  # done and not yet reached, in words
    has_stopped: bool

    @property
    def steps(self) -> list[Step]:
        """The tasks in flow order, and the end reached (if any)."""
        return [
            Step(name=n.name, label=n.label, state=n.state, state_label=n.state_label)
            for n in self.nodes
            if n.is_task or (n.kind == "end" and n.state == DONE)
        ]


def _node(box: Box, state: str, labels: Mapping[str, str]) -> Node:
    label = str(box.title)
    is_task = box.kind in TASK_KINDS
    font = BOX_FONT if is_task else SMALL_FONT
    step = font * LINE_HEIGHT
    badge = None
    if is_task:
        lines = wrap(label, (box.width - 2 * BOX_PADDING) / font)
        top = box.y + box.height / 2 - (len(lines) - 1) * step / 2
        if state == CURRENT:
            text = labels[CURRENT]
            badge = Badge(
                text=text,
                x=box.x + 6,
                y=box.y + 6,
                width=min(box.width - 12, round(_em(text) * BADGE_FONT + 16)),
                height=22,
            )
            top = max(top, box.y + 28 + step / 2)  # below the badge
    else:
        lines = wrap(label, SMALL_LABEL_WIDTH / font)
        top = box.y + box.height + 4 + step / 2
    return Node(
        name=box.name,
        kind=box.kind,
        state=state,
        label=label,
        state_label=labels[state],
        x=box.x,
        y=box.y,
        width=box.width,
        height=box.height,
        text=tuple(
            Text(text=line, x=box.x + box.width / 2, y=round(top + i * step, 1))
            for i, line in enumerate(lines)
        ),
        font_size=font,
        badge=badge,
    )


def _listed(labels: list[str]) -> str:
    return pgettext("list separator", ", ").join(labels)


def diagram_of(flow_class: type, states: Mapping[str, str]) -> Diagram:
    """The flow's diagram with each node in its state (``states`` by node name: done,
    current or stopped; absent means not reached yet), labelled in the active language."""
    layout = flow_layout(flow_class)
    labels = state_labels()
    nodes = tuple(_node(box, states.get(box.name, TODO), labels) for box in layout.boxes)
    current = [n.label for n in nodes if n.state == CURRENT]
    ended = [n.label for n in nodes if n.kind == "end" and n.state == DONE]
    if current:
        headline = _("Current step: %(steps)s") % {"steps": _listed(current)}
    elif ended:
        headline = _("The process has ended: %(end)s") % {"end": _listed(ended)}
    elif any(n.state == STOPPED for n in nodes):
        headline = _("The process was stopped: the application was withdrawn")
    else:
        headline = _("No step is open")
    done = [n.label for n in nodes if n.state == DONE] or [_("none")]
    todo = [n.label for n in nodes if n.state == TODO] or [_("none")]
    description = _("Done: %(done)s. Not reached yet: %(todo)s.") % {
        "done": _listed(done),
        "todo": _listed(todo),
    }
    width = layout.width + 2 * MARGIN_X
    height = layout.height + 2 * MARGIN_Y
    return Diagram(
        view_box=f"{-MARGIN_X} {-MARGIN_Y} {width} {height}",
        width=width,
        height=height,
        nodes=nodes,
        lines=layout.lines,
        headline=headline,
        summary=_("Process diagram. %(headline)s.") % {"headline": headline},
        description=description,
        has_stopped=any(n.state == STOPPED for n in nodes),
    )
