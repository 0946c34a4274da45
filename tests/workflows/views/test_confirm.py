"""One confirmation before every action that cannot be undone (issue 13, item 7): the
site's dialog with JavaScript (tests/browser), and without it a confirmation page that sends
the same form again. Until the question is answered, nothing is done."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from applications.models import Application
from approvals.models import Objection
from approvals.services.objections import objection_raise
from audit.models import AuditEntry
from tests.factories import S, World

pytestmark = pytest.mark.django_db


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def hidden(html: str) -> dict[str, list[str]]:
    form = html[html.index('id="confirm-page"') :].split("</form>")[0]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(value)
    # The page's own token, once (the one posted is not repeated).
    assert len(fields.pop("csrfmiddlewaretoken")) == 1
    return fields


def test_reject_asks_first_and_a_confirmed_reject_takes_effect(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    client = client_for(world, "reviewer_t1")
    url = f"/review/applications/{app.pk}/"

    asked = client.post(url, {"step": "reject", "reason": "收入超标"})

    assert asked.status_code == 200
    html = asked.content.decode()
    assert "确定驳回该申请吗？驳回后无法恢复。" in html
    # The same form, ready to be sent again: the step, the reason, and the answer.
    assert hidden(html) == {"step": ["reject"], "reason": ["收入超标"], "confirmed": ["1"]}
    assert f'action="{url}"' in html
    assert Application.objects.get(pk=app.pk).status == S.TOWNSHIP_REVIEW
    assert not AuditEntry.objects.filter(action="application.reject").exists()

    done = client.post(url, {"step": "reject", "reason": "收入超标", "confirmed": "1"})

    assert done.status_code == 302
    assert Application.objects.get(pk=app.pk).status == S.REJECTED


def test_the_decide_page_marks_reject_with_its_question(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    html = client_for(world, "reviewer_t1").get(f"/review/applications/{app.pk}/")
    button = re.search(r'<button[^>]*value="reject"[^>]*>', html.content.decode())
    assert button is not None and 'data-confirm="确定驳回该申请吗？' in button.group(0)
    approve = re.search(r'<button[^>]*value="township_approve"[^>]*>', html.content.decode())
    assert approve is not None and "data-confirm" not in approve.group(0)


def test_reject_without_a_reason_says_so_before_asking(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = client_for(world, "reviewer_t1").post(
        f"/review/applications/{app.pk}/", {"step": "reject", "reason": " "}
    )

    assert response.status_code == 400
    assert 'id="confirm-page"' not in response.content.decode()
    assert Application.objects.get(pk=app.pk).status == S.TOWNSHIP_REVIEW


def test_upholding_an_objection_asks_first(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=None, application_id=app.pk, text="有疑问", public=True)
    client = client_for(world, "reviewer_t1")
    url = f"/review/applications/{app.pk}/objections/{objection.pk}/resolve/"

    asked = client.post(url, {"decision": "uphold", "reason": "经核实属实"})

    assert asked.status_code == 200
    assert hidden(asked.content.decode())["decision"] == ["uphold"]
    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN
    assert Application.objects.get(pk=app.pk).status == S.POSTED

    client.post(url, {"decision": "uphold", "reason": "经核实属实", "confirmed": "1"})
    objection.refresh_from_db()
    assert objection.status == Objection.Status.UPHELD
    assert Application.objects.get(pk=app.pk).status == S.REJECTED


def test_dismissing_an_objection_asks_nothing(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=None, application_id=app.pk, text="有疑问", public=True)
    client = client_for(world, "reviewer_t1")
    url = f"/review/applications/{app.pk}/objections/{objection.pk}/resolve/"

    client.post(url, {"decision": "dismiss", "reason": "已核实"})

    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED


def test_bulk_approve_asks_with_the_count_and_keeps_the_selection(world: World) -> None:
    apps = [world.application(S.TOWNSHIP_REVIEW) for _ in range(3)]
    client = client_for(world, "reviewer_t1")
    picked = [str(a.pk) for a in apps]

    asked = client.post("/review/approve/", {"ids": picked, "next": "/review/queue/"})

    html = asked.content.decode()
    assert "确定审批选中的 3 份申请吗？" in html
    assert hidden(html)["ids"] == picked
    assert set(Application.objects.filter(pk__in=picked).values_list("status", flat=True)) == {
        S.TOWNSHIP_REVIEW
    }


def test_withdraw_on_the_cadres_page_asks_first(world: World) -> None:
    app = world.application(S.POSTED)
    client = client_for(world, "cadre_v1")

    asked = client.post(f"/cadre/applications/{app.pk}/step/", {"step": "withdraw"})

    assert asked.status_code == 200
    assert "确定撤回该申请吗？撤回后无法恢复。" in asked.content.decode()
    assert Application.objects.get(pk=app.pk).status == S.POSTED
    client.post(f"/cadre/applications/{app.pk}/step/", {"step": "withdraw", "confirmed": "1"})
    assert Application.objects.get(pk=app.pk).status == S.WITHDRAWN


def test_every_page_loads_the_one_dialog(world: World) -> None:
    html = client_for(world, "reviewer_t1").get("/review/queue/").content.decode()
    assert '<template id="confirm-dialog">' in html
    assert "workflows/confirm.js" in html
    assert "window.confirm" not in html


def test_a_finance_officers_card_check_asks_first_an_approvers_does_not(world: World) -> None:
    from tests.factories import audit_entries
    from tests.workflows.views.test_review import held_app

    app = held_app(world)
    url = f"/review/applications/{app.pk}/card-check/"

    asked = client_for(world, "finance_a").post(url, {"reason": "经信用社核实"})

    assert asked.status_code == 200
    assert "确定登记核查？登记后您本人将不能为该申请发放资金。" in asked.content.decode()
    assert audit_entries(app, "application.card_check") == []
    done = client_for(world, "finance_a").post(url, {"reason": "经信用社核实", "confirmed": "1"})
    assert done.status_code == 302
    assert len(audit_entries(app, "application.card_check")) == 1
