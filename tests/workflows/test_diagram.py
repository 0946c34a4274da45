"""The process diagram of the application page: viewflow's layout of the flow as an SVG,
each node labelled in the user's language and marked done, current, stopped or not reached
for the application's process."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from viewflow.workflow import chart

from applications.models import Application
from applications.roles import Role
from approvals.services.transitions import application_transition, posting_close_if_due
from tests.factories import STEP_ROLE, S, World, after_posting
from workflows import diagram
from workflows.flows import SubsidyApplicationFlow

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
NODE_NAMES = {node.name for node in SubsidyApplicationFlow.instance.nodes()}


def page(world: World, app: Application, *, language: str = "zh-hans") -> str:
    client = Client()
    client.force_login(world.user("inspector_a"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(f"/applications/{app.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def svg_of(html: str) -> ET.Element:
    """The process diagram of a page, parsed as XML (it must be well-formed)."""
    found = re.findall(r"<svg\b[^>]*\bprocess-chart\b.*?</svg>", html, flags=re.S)
    assert len(found) == 1
    return ET.fromstring(found[0])  # noqa: S314 -- our own page's markup, not untrusted input


def nodes_of(svg: ET.Element) -> dict[str, ET.Element]:
    return {g.attrib["data-node"]: g for g in svg.iter(f"{SVG}g") if "data-node" in g.attrib}


def states_of(svg: ET.Element) -> dict[str, str]:
    return {name: g.attrib["data-state"] for name, g in nodes_of(svg).items()}


def in_state(svg: ET.Element, state: str) -> set[str]:
    return {name for name, s in states_of(svg).items() if s == state}


def title_of(node: Any, language: str) -> str:
    with translation.override(language):
        return str(node.task_title)


def step(world: World, app: Application, name: str) -> None:
    """One step by the right person (the township reviewer or county approver for return,
    by the state), as ``World.walk`` takes them."""
    if name == "close_posting":
        app.refresh_from_db()
        assert posting_close_if_due(application_id=app.pk, now=after_posting(app))
        app.refresh_from_db()
        return
    role = STEP_ROLE[name]
    if name == "return" and app.status == S.COUNTY_REVIEW:
        role = Role.COUNTY_APPROVER
    application_transition(
        actor=world.actor(role, app.area_code),
        application_id=app.pk,
        name=name,
        reason="材料不全，请补充" if name == "return" else "",
    )
    app.refresh_from_db()


def returned_and_resubmitted(world: World, times: int) -> Application:
    """An application returned from township review ``times`` times, each time filed and
    posted again, now back in township review."""
    app = world.application(S.TOWNSHIP_REVIEW)
    for _ in range(times):
        for name in ("return", "submit", "start_posting", "close_posting"):
            step(world, app, name)
    assert app.status == S.TOWNSHIP_REVIEW
    return app


def test_diagram_is_on_the_page_as_accessible_well_formed_svg(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    svg = svg_of(page(world, app))
    assert svg.attrib["role"] == "img"
    current = title_of(SubsidyApplicationFlow.township_review, "zh-hans")
    assert current in svg.attrib["aria-label"]
    assert current in (svg.findtext(f"{SVG}title") or "")
    assert svg.findtext(f"{SVG}desc")
    assert set(nodes_of(svg)) == NODE_NAMES


def test_diagram_labels_every_node_with_its_chinese_title(world: World) -> None:
    app = world.application(S.DRAFT)
    svg = svg_of(page(world, app))
    nodes = nodes_of(svg)
    for node in SubsidyApplicationFlow.instance.nodes():
        label = title_of(node, "zh-hans")
        assert re.search(r"[\u4e00-\u9fff]", label), f"{node.name} has no Chinese title"
        g = nodes[node.name]
        assert (g.findtext(f"{SVG}title") or "").startswith(label)
        shown = "".join(t.text or "" for t in g.iter(f"{SVG}text") if "label" in t.attrib["class"])
        assert shown == label  # wrapped over lines, every character shown


def test_diagram_labels_are_english_under_english(world: World) -> None:
    app = world.application(S.COUNTY_REVIEW)
    html = page(world, app, language="en")
    svg = svg_of(html)
    nodes = nodes_of(svg)
    for node in SubsidyApplicationFlow.instance.nodes():
        label = title_of(node, "en")
        g = nodes[node.name]
        assert (g.findtext(f"{SVG}title") or "").startswith(label)
        shown = " ".join(t.text or "" for t in g.iter(f"{SVG}text") if "label" in t.attrib["class"])
        assert shown == label
    assert "County approval" in svg.attrib["aria-label"]
    assert not re.search(r"[\u4e00-\u9fff]", ET.tostring(svg, encoding="unicode"))


@pytest.mark.parametrize(
    ("status", "current"),
    [
        (S.DRAFT, "submit"),
        (S.POSTED, "posting"),
        (S.TOWNSHIP_REVIEW, "township_review"),
        (S.APPROVED, "disburse"),
        (S.RETURNED, "submit"),
    ],
)
def test_diagram_marks_exactly_the_node_the_application_waits_in(
    world: World, status: str, current: str
) -> None:
    app = world.application(status)
    svg = svg_of(page(world, app))
    assert in_state(svg, "current") == {current}
    badge = [t.text for t in nodes_of(svg)[current].iter(f"{SVG}text") if "badge" in str(t.attrib)]
    assert badge == ["当前步骤"]
    assert title_of(getattr(SubsidyApplicationFlow, current), "zh-hans") in svg.attrib["aria-label"]


@pytest.mark.parametrize(("status", "end"), [(S.DISBURSED, "paid"), (S.REJECTED, "rejected")])
def test_diagram_of_a_closed_application_has_no_current_node_and_its_end_done(
    world: World, status: str, end: str
) -> None:
    app = world.application(status)
    svg = svg_of(page(world, app))
    assert in_state(svg, "current") == set()
    other_end = ({"paid", "rejected"} - {end}).pop()
    states = states_of(svg)
    assert states[end] == "done" and states[other_end] == "todo"
    assert title_of(getattr(SubsidyApplicationFlow, end), "zh-hans") in svg.attrib["aria-label"]


def test_diagram_of_a_full_chain_marks_its_path_done(world: World) -> None:
    svg = svg_of(page(world, world.application(S.DISBURSED)))
    assert in_state(svg, "done") == NODE_NAMES - {"rejected"}


def test_diagram_of_a_withdrawn_application_shows_where_it_stopped(world: World) -> None:
    app = world.application(S.POSTED)
    application_transition(
        actor=world.actor(Role.VILLAGE_CADRE, app.area_code),
        application_id=app.pk,
        name="withdraw",
        reason="",
    )
    svg = svg_of(page(world, app))
    assert in_state(svg, "current") == set()
    assert in_state(svg, "stopped") == {"posting"}
    assert in_state(svg, "done") == {"start", "submit", "start_posting"}


def test_diagram_done_nodes_follow_the_history_of_a_returned_then_resubmitted_application(
    world: World,
) -> None:
    app = world.application(S.COUNTY_REVIEW)
    for name in ("return", "submit", "start_posting"):
        step(world, app, name)
    assert app.status == S.POSTED
    svg = svg_of(page(world, app))
    # Reviewed in the first round (done, and returned from the county); posted again now.
    assert in_state(svg, "current") == {"posting"}
    assert in_state(svg, "done") == {
        "start",
        "submit",
        "start_posting",
        "after_posting",
        "township_review",
        "after_township",
        "county_review",
        "after_county",
    }
    assert in_state(svg, "todo") == {"disburse", "after_payment", "paid", "rejected"}


def test_diagram_shows_no_personal_data(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    root = svg_of(page(world, app))
    svg = ET.tostring(root, encoding="unicode")
    # Its words: every text node and attribute value that is not drawing geometry (four
    # digits of an ID could occur in a path's coordinates by chance).
    geometry = {
        "d",
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "width",
        "height",
        "viewBox",
        "points",
        "transform",
    }
    words = " ".join(
        [*root.itertext()]
        + [v for el in root.iter() for k, v in el.attrib.items() if k not in geometry]
    )
    household = app.household
    for secret in (household.head_name, household.head_id_masked):
        assert secret not in svg
    assert household.head_id_masked[-4:] not in words
    assert str(app.amount) not in words


def test_application_page_queries_do_not_grow_with_the_process_history(world: World) -> None:
    short = returned_and_resubmitted(world, times=0)
    long = returned_and_resubmitted(world, times=3)
    client = Client()
    client.force_login(world.user("inspector_a"))
    client.get(f"/applications/{short.pk}/")  # warm up: session, caches
    counts = []
    for app in (short, long):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/applications/{app.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[0] <= 25


def test_layout_is_computed_once_per_flow_class(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = chart.calc_layout_data

    def counting(flow_class: type) -> Any:
        calls.append(flow_class)
        return real(flow_class)

    diagram.flow_layout.cache_clear()
    monkeypatch.setattr(chart, "calc_layout_data", counting)
    try:
        for status in (S.DRAFT, S.APPROVED):
            svg_of(page(world, world.application(status)))
    finally:
        diagram.flow_layout.cache_clear()
    assert calls == [SubsidyApplicationFlow]


def test_wrap_keeps_words_and_bracketed_groups_whole() -> None:
    assert diagram.wrap("开始张榜公示（村）", 8) == ["开始张榜公示", "（村）"]
    assert diagram.wrap("乡镇审核", 8) == ["乡镇审核"]
    assert diagram.wrap("Filing and submission (village)", 8) == [
        "Filing and",
        "submission",
        "(village)",
    ]
