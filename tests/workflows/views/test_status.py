"""The cadre's pages for an exit and a return (``workflows.views.status``), and what the
application pages and the queue show of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from applications.models import Application, Household, StatusChange
from common import clock
from tests.factories import VILLAGE_1, World

S = Application.Status
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def page(response: Any) -> str:
    return str(response.content.decode())


def test_a_registered_household_offers_an_exit_and_files_it(world: World) -> None:
    household = world.household(VILLAGE_1)
    client = client_for(world, "cadre_v1")
    detail = page(client.get(reverse("workflows:cadre_household", args=[household.pk])))
    assert 'id="propose-exit"' in detail and 'id="record-risk"' not in detail

    url = reverse("workflows:cadre_household_exit", args=[household.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "income_per_capita": "6200",
            "income_year": str(clock.today().year - 1),
            "visit_date": (clock.today() - timedelta(days=1)).isoformat(),
        },
    )

    app = Application.objects.get(household=household, program=world.exit_program)
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:cadre_application", args=[app.pk])
    shown = page(client.get(response["Location"]))
    assert 'id="status-facts"' in shown and "6200" in shown
    assert reverse("workflows:cadre_application_facts", args=[app.pk]) in shown


def test_bad_facts_are_field_errors_and_nothing_is_filed(world: World) -> None:
    household = world.household(VILLAGE_1)
    client = client_for(world, "cadre_v1")

    response = client.post(
        reverse("workflows:cadre_household_exit", args=[household.pk]),
        {"income_per_capita": "abc", "income_year": "1990", "visit_date": ""},
    )

    assert response.status_code == 200
    assert page(response).count('class="errorlist') >= 2
    assert not Application.objects.filter(household=household).exists()


def test_an_exited_household_offers_a_risk_signal_not_an_exit(world: World) -> None:
    household = world.exited(VILLAGE_1)
    client = client_for(world, "cadre_v1")
    detail = page(client.get(reverse("workflows:cadre_household", args=[household.pk])))

    assert 'id="record-risk"' in detail and 'id="propose-exit"' not in detail
    assert (
        client.get(reverse("workflows:cadre_household_exit", args=[household.pk])).status_code
        == 404
    )
    response = client.post(
        reverse("workflows:cadre_household_return", args=[household.pk]),
        {"risk_cause": "illness", "risk_date": clock.today().isoformat()},
    )
    assert response.status_code == 302
    change = StatusChange.objects.get(application__household=household, risk_cause="illness")
    assert change.due_on == clock.today() + timedelta(days=15)


def test_the_facts_are_corrected_while_a_draft(world: World) -> None:
    app = world.status_change(world.household(VILLAGE_1), "exit", S.DRAFT)
    client = client_for(world, "cadre_v1")
    url = reverse("workflows:cadre_application_facts", args=[app.pk])

    response = client.post(
        url,
        {
            "income_per_capita": "7100",
            "income_year": str(clock.today().year - 1),
            "visit_date": clock.today().isoformat(),
        },
    )

    assert response.status_code == 302
    assert str(StatusChange.objects.get(application=app).income_per_capita) == "7100.00"
    world.walk(app, S.SUBMITTED)
    assert client.get(url).status_code == 404


def test_the_queue_shows_a_return_s_days_left_and_marks_it_overdue(world: World) -> None:
    household = world.exited(VILLAGE_1)
    late = world.status_change(
        household,
        "return",
        S.TOWNSHIP_REVIEW,
        change={"risk_cause": "illness", "risk_date": clock.today() - timedelta(days=20)},
    )
    client = client_for(world, "reviewer_t1")

    queue = page(client.get(reverse("workflows:queue")))

    assert 'class="overdue"' in queue and "data-overdue" in queue
    assert str(late.pk) in queue
    decide = page(client.get(reverse("workflows:decide", args=[late.pk])))
    assert 'id="days-left"' in decide


def test_the_notice_board_shows_an_exit_s_income_and_no_return_cause(world: World) -> None:
    exit_app = world.status_change(world.household(VILLAGE_1), "exit", S.POSTED)
    returning = world.status_change(world.exited(VILLAGE_1), "return", S.POSTED)

    board = page(Client().get(reverse("workflows:notice", args=[VILLAGE_1])))

    assert f'id="a{exit_app.pk}"' in board and "6200.00" in board
    assert f'id="a{returning.pk}"' in board
    cause = str(Household.Cause("illness").label)
    assert cause not in board


def test_the_village_notice_pdf_says_what_an_exit_and_a_return_propose(world: World) -> None:
    import io

    import pdfplumber

    from documents.services.issuing import notice_issue

    world.status_change(world.household(VILLAGE_1), "exit", S.POSTED)
    world.status_change(world.exited(VILLAGE_1), "return", S.POSTED)

    document = notice_issue(actor=world.user("cadre_v1"), village_code=VILLAGE_1)

    with pdfplumber.open(io.BytesIO(document.file.read())) as pdf:
        text = "".join((page.extract_text() or "") for page in pdf.pages)
    text = text.replace(" ", "").replace("\n", "")
    # Cells wrap inside the table, so their lines interleave: each piece is looked for.
    assert "拟脱贫销号（人均" in text and "6200.00" in text
    assert "拟纳入返贫" in text
    assert str(Household.Cause("illness").label) not in text
