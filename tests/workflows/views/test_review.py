"""The reviewers' pages and the task services: queue and inbox per role and area, claim,
release and reassign (audited), bulk approval with a result per item, the decision page and
the application page, the kin flags and recusal, the payment holds and the card check."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from viewflow.workflow.status import STATUS

from applications.models import Application
from applications.roles import Role
from applications.services import role_grant
from approvals import policy
from approvals.models import Decision, Objection
from approvals.services.objections import objection_raise
from common.errors import Code, Refused
from tests.factories import (
    SIGNED_AGREEMENT_PDF,
    TOWNSHIP_1,
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    VILLAGE_B,
    S,
    World,
    audit_entries,
    bank_card_number,
    colleague,
    kin_app,
    make_application,
    record_appraisal,
    upload_signed_agreement,
)
from workflows.selectors import active_task, process_divergences, tasks_inbox, tasks_queue
from workflows.services import task_claim, task_reassign

pytestmark = pytest.mark.django_db


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def ids(qs: Any) -> set[int]:
    return {a.pk for a in qs}


# --- queue and inbox -----------------------------------------------------------------------


def test_queue_holds_the_tasks_of_the_users_role_and_area(world: World) -> None:
    t1_a = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    t1_b = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_2)
    t2 = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_3)
    county = world.application(S.COUNTY_REVIEW, area_code=VILLAGE_1)
    draft = world.application(S.DRAFT, area_code=VILLAGE_1)
    other_county = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_B)

    assert ids(tasks_queue(world.user("reviewer_t1"))) == {t1_a.pk, t1_b.pk}
    assert ids(tasks_queue(world.user("reviewer_t2"))) == {t2.pk}
    assert ids(tasks_queue(world.user("reviewer_b"))) == {other_county.pk}
    assert ids(tasks_queue(world.user("approver_a"))) == {county.pk}
    assert ids(tasks_queue(world.user("cadre_v1"))) == {draft.pk}
    assert ids(tasks_queue(world.user("inspector_a"))) == set()
    assert ids(tasks_inbox(world.user("reviewer_t1"))) == set()


def test_queue_counts_the_days_since_the_application_entered_its_step(world: World) -> None:
    from datetime import timedelta

    from applications.models import Application
    from common import clock

    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    # Entered township review six days ago (as the demo's backdated history does).
    Application.objects.filter(pk=app.pk).update(
        status_changed_at=clock.now() - timedelta(days=6, hours=1)
    )

    html = client_for(world, "reviewer_t1").get("/review/queue/").content.decode()

    row = html[html.index(f"/review/applications/{app.pk}/") :]
    assert '<td class="num">6</td>' in row[: row.index("</tr>")]


def test_queue_page_lists_filters_and_sorts(world: World) -> None:
    a = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    b = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_2)
    client = client_for(world, "reviewer_t1")
    response = client.get("/review/queue/")
    assert response.status_code == 200
    assert [r.application.pk for r in response.context["rows"]] == [a.pk, b.pk]
    assert a.household.head_name in response.content.decode()
    response = client.get("/review/queue/", {"village": VILLAGE_2})
    assert [r.application.pk for r in response.context["rows"]] == [b.pk]
    response = client.get("/review/queue/", {"sort": "-id"})
    assert [r.application.pk for r in response.context["rows"]] == [b.pk, a.pk]
    response = client.get("/review/queue/", {"state": S.COUNTY_REVIEW})
    assert response.context["rows"] == []


def test_queue_paginates_with_page_numbers(world: World) -> None:
    apps = [world.application(S.DRAFT, area_code=VILLAGE_1) for _ in range(23)]
    client = client_for(world, "cadre_v1")
    first = client.get("/review/queue/", {"size": "20", "sort": "id"})
    assert [r.application.pk for r in first.context["rows"]] == [a.pk for a in apps[:20]]
    assert first.context["has_next"]
    second = client.get("/review/queue/", {"size": "20", "sort": "id", "page": "2"})
    assert [r.application.pk for r in second.context["rows"]] == [a.pk for a in apps[20:]]
    assert not second.context["has_next"]


# --- claim, release, reassign --------------------------------------------------------------


def test_each_row_links_its_application_and_its_own_task(world: World) -> None:
    # Several applications, so that an application's number and its task's differ.
    apps = [world.application(S.TOWNSHIP_REVIEW) for _ in range(3)]
    tasks = {app.pk: active_task(app).pk for app in apps}
    assert any(pk != task for pk, task in tasks.items())
    client = client_for(world, "reviewer_t1")

    def row_of(html: str, pk: int) -> str:
        row = html[html.index(f'name="ids" value="{pk}"') :]
        return row[: row.index("</tr>")]

    queue = client.get("/review/queue/").content.decode()
    for pk, task in tasks.items():
        row = row_of(queue, pk)
        assert f'href="/review/applications/{pk}/"' in row
        assert f'formaction="/review/tasks/{task}/claim/"' in row
    client.post(f"/review/tasks/{tasks[apps[0].pk]}/claim/")
    inbox = row_of(client.get("/review/inbox/").content.decode(), apps[0].pk)
    assert f'href="/review/applications/{apps[0].pk}/"' in inbox
    assert f'formaction="/review/tasks/{tasks[apps[0].pk]}/release/"' in inbox


def test_claim_moves_the_task_to_the_inbox_and_is_audited(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    reviewer = world.user("reviewer_t1")
    task = active_task(app)
    client = client_for(world, "reviewer_t1")
    response = client.post(f"/review/tasks/{task.pk}/claim/")
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.owner_id == reviewer.pk and task.status == STATUS.ASSIGNED
    assert ids(tasks_inbox(reviewer)) == {app.pk}
    assert ids(tasks_queue(reviewer)) == set()
    [entry] = audit_entries(app, "task.claim")
    assert entry.actor_id == reviewer.pk and entry.area_code == app.area_code
    inbox = client.get("/review/inbox/")
    assert [r.application.pk for r in inbox.context["rows"]] == [app.pk]
    assert not process_divergences().exists()


def test_release_puts_the_task_back_and_is_audited(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    reviewer = world.user("reviewer_t1")
    task = task_claim(actor=reviewer, task_id=active_task(app).pk)
    response = client_for(world, "reviewer_t1").post(f"/review/tasks/{task.pk}/release/")
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.owner_id is None and task.status == STATUS.NEW
    assert ids(tasks_queue(reviewer)) == {app.pk}
    assert len(audit_entries(app, "task.release")) == 1


# --- bulk approval -------------------------------------------------------------------------


def test_bulk_approve_shows_each_result_and_refuses_the_reviewers_own_filing(
    world: World,
) -> None:
    ok = [world.application(S.TOWNSHIP_REVIEW) for _ in range(2)]
    # The reviewer is also a cadre of village 2 and filed this one: separation of duties.
    role_grant(actor=None, username="reviewer_t1", role=Role.VILLAGE_CADRE, area_code=VILLAGE_2)
    reviewer = world.user("reviewer_t1")
    household = world.household(VILLAGE_2)
    own = make_application(actor=reviewer, household_id=household.pk, program_id=world.program.pk)
    record_appraisal(actor=reviewer, application_id=own.pk)
    own = world.walk(own, S.TOWNSHIP_REVIEW)
    client = client_for(world, "reviewer_t1")
    response = client.post(
        "/review/approve/",
        {"ids": [ok[0].pk, own.pk, ok[1].pk], "next": "/review/queue/", "confirmed": "1"},
    )
    assert response.status_code == 200
    results = {r.application_id: r for r in response.context["results"]}
    assert results[ok[0].pk].done and results[ok[1].pk].done
    assert not results[own.pk].done
    assert results[own.pk].message
    assert results[own.pk].message in response.content.decode()
    for app in ok:
        app.refresh_from_db()
        assert app.status == S.COUNTY_REVIEW
    own.refresh_from_db()
    assert own.status == S.TOWNSHIP_REVIEW
    assert len(audit_entries(own, "application.township_approve", "refused")) == 1
    assert not process_divergences().exists()


def test_bulk_approve_of_an_application_out_of_area_is_refused(world: World) -> None:
    theirs = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_3)
    response = client_for(world, "reviewer_t1").post(
        "/review/approve/", {"ids": [theirs.pk], "confirmed": "1"}
    )
    [result] = response.context["results"]
    assert not result.done
    theirs.refresh_from_db()
    assert theirs.status == S.TOWNSHIP_REVIEW


def test_a_reviewer_clears_a_queue_of_fifty_with_select_all(world: World) -> None:
    apps = [world.application(S.TOWNSHIP_REVIEW) for _ in range(50)]
    client = client_for(world, "reviewer_t1")
    page = client.get("/review/queue/", {"size": 50})
    picked = [row.application.pk for row in page.context["rows"]]
    assert sorted(picked) == sorted(a.pk for a in apps)
    assert 'id="select-all"' in page.content.decode()
    response = client.post(
        "/review/approve/", {"ids": picked, "next": "/review/queue/", "confirmed": "1"}
    )
    assert response.context["approved"] == 50 and response.context["refused"] == 0
    assert Application.objects.filter(pk__in=picked, status=S.COUNTY_REVIEW).count() == 50
    # Each row says where its application is now (county review), not "approved".
    html = response.content.decode()
    assert html.count("现处于县级审批中") == 50 and "已审批" not in html
    assert client.get("/review/queue/").context["rows"] == []
    assert not process_divergences().exists()


# --- the decision page and the application page --------------------------------------------


def test_decision_page_return_without_reason_is_an_error_and_changes_nothing(
    world: World,
) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    decisions = Decision.objects.filter(application=app).count()
    client = client_for(world, "reviewer_t1")
    page = client.get(f"/review/applications/{app.pk}/")
    assert page.status_code == 200
    assert {name for name, _label, _reason, _confirm in page.context["steps"]} == {
        "township_approve",
        "return",
        "reject",
    }
    response = client.post(f"/review/applications/{app.pk}/", {"step": "return", "reason": " "})
    assert response.status_code == 400
    assert response.context["errors"]["reason"]
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert Decision.objects.filter(application=app).count() == decisions
    assert not process_divergences().exists()


def test_decision_page_return_with_reason(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    response = client_for(world, "reviewer_t1").post(
        f"/review/applications/{app.pk}/", {"step": "return", "reason": "照片不清楚"}
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.RETURNED and app.last_reason == "照片不清楚"
    assert not process_divergences().exists()


def test_decision_page_resolves_an_objection(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=None, application_id=app.pk, text="有疑问", public=True)
    client = client_for(world, "reviewer_t1")
    url = f"/review/applications/{app.pk}/objections/{objection.pk}/resolve/"
    client.post(url, {"decision": "dismiss", "reason": ""})
    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN
    client.post(url, {"decision": "dismiss", "reason": "已核实"})
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED
    assert "已核实" in client.get(f"/review/applications/{app.pk}/").content.decode()


def test_application_page_shows_timeline_and_current_step(world: World) -> None:
    app = world.application(S.COUNTY_REVIEW)
    response = client_for(world, "approver_a").get(f"/applications/{app.pk}/")
    assert response.status_code == 200
    states = {s.name: s.state for s in response.context["process_steps"]}
    assert states["county_review"] == "current"
    assert states["township_review"] == "done"
    assert states["disburse"] == "todo"
    actions = [e.action for e in response.context["timeline"]]
    assert len(actions) >= 5
    assert app.household.head_id_masked in response.content.decode()


@pytest.mark.parametrize("username", ["reviewer_t2", "cadre_v2", "approver_b", "cadre_b"])
def test_application_pages_are_404_out_of_area(world: World, username: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    client = client_for(world, username)
    assert client.get(f"/applications/{app.pk}/").status_code == 404
    assert client.get(f"/review/applications/{app.pk}/").status_code == 404
    response = client.post(
        f"/review/applications/{app.pk}/", {"step": "township_approve", "reason": ""}
    )
    assert response.status_code == 404
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


def test_attachment_download_serves_the_file_in_scope_and_404_outside(world: World) -> None:
    app = world.application(S.APPROVED, area_code=VILLAGE_1)
    attachment = upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    url = f"/attachments/{attachment.pk}/"

    response = client_for(world, "reviewer_t1").get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SIGNED_AGREEMENT_PDF  # type: ignore[attr-defined]
    assert "attachment" in response["Content-Disposition"]

    assert client_for(world, "cadre_v2").get(url).status_code == 404
    assert client_for(world, "reviewer_b").get(url).status_code == 404


def test_decision_page_hands_the_task_to_a_colleague_and_audits_it(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    colleague, _ = role_grant(
        actor=None,
        username="reviewer_t1_colleague",
        role=Role.TOWNSHIP_REVIEWER,
        area_code="620902100000",
    )
    reviewer = client_for(world, "reviewer_t1")
    page = reviewer.get(f"/review/applications/{app.pk}/")
    assert "reviewer_t1_colleague" in page.content.decode()
    task = active_task(app)
    assert task is not None

    response = reviewer.post(f"/review/tasks/{task.pk}/reassign/", {"to_user": colleague.pk})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.owner_id == colleague.pk
    assert audit_entries(app, "task.reassign")


def test_reassign_to_someone_without_the_role_is_refused_and_changes_nothing(
    world: World,
) -> None:
    app = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    task = active_task(app)
    assert task is not None
    reviewer = client_for(world, "reviewer_t1")
    reviewer.post(f"/review/tasks/{task.pk}/reassign/", {"to_user": world.user("cadre_v1").pk})
    task.refresh_from_db()
    assert task.owner_id is None
    assert audit_entries(app, "task.reassign", outcome="refused")


# --- conflict of interest and payment holds (DOMAIN rules 4 and 5) ----------------------------


def test_decision_page_shows_the_kin_flag_and_no_step_to_the_recused(world: World) -> None:
    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")

    recused = client_for(world, "reviewer_t1").get(f"/review/applications/{app.pk}/")
    approver = client_for(world, "approver_a").get(f"/review/applications/{app.pk}/")

    assert recused.context["recused"] is True
    assert recused.context["steps"] == []
    assert "data-kin-flag" in recused.content.decode()
    assert "reviewer_t1" in approver.content.decode()  # who is recused, for the record
    assert approver.context["recused"] is False


def test_decision_page_step_by_the_recused_is_refused_and_changes_nothing(world: World) -> None:
    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")

    response = client_for(world, "reviewer_t1").post(
        f"/review/applications/{app.pk}/", {"step": "township_approve"}
    )

    assert response.status_code == 400
    assert response.context["errors"]["detail"]
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


def test_queue_marks_the_kin_flag(world: World) -> None:
    flagged = kin_app(world, S.TOWNSHIP_REVIEW, "cadre_v1")
    plain = world.application(S.TOWNSHIP_REVIEW)

    page = client_for(world, "reviewer_t1").get("/review/queue/")

    rows = {row.application.pk: row for row in page.context["rows"]}
    assert rows[flagged.pk].kin_flagged and not rows[flagged.pk].recused
    assert not rows[plain.pk].kin_flagged
    assert page.content.decode().count("data-kin-flag") == 1


def test_bulk_approve_skips_the_application_the_reviewer_is_recused_from(world: World) -> None:
    ok = world.application(S.TOWNSHIP_REVIEW)
    kin = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")

    response = client_for(world, "reviewer_t1").post(
        "/review/approve/", {"ids": [ok.pk, kin.pk], "confirmed": "1"}
    )

    results = {r.application_id: r for r in response.context["results"]}
    assert results[ok.pk].done
    assert not results[kin.pk].done
    assert results[kin.pk].message == policy.recusal_refusal().message
    kin.refresh_from_db()
    assert kin.status == S.TOWNSHIP_REVIEW
    assert len(audit_entries(kin, "application.township_approve", "refused")) == 1
    assert not process_divergences().exists()


def test_task_not_handed_to_a_recused_colleague(world: World) -> None:
    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")
    other = colleague("reviewer_t1b", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)
    task = active_task(app)
    task_claim(actor=other, task_id=task.pk)

    with pytest.raises(Refused) as refused:
        task_reassign(actor=other, task_id=task.pk, to_user=world.user("reviewer_t1"))
    assert refused.value.code == Code.RECUSED
    client = Client()
    client.force_login(other)
    page = client.get(f"/review/applications/{app.pk}/")

    assert world.user("reviewer_t1") not in page.context["colleagues"]
    assert active_task(app).owner == other


def held_app(world: World) -> Application:
    """An approved application with its signed agreement, whose card another household
    shares: its payment is held."""
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = world.application(S.APPROVED, household=household)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    return app


def test_decision_page_shows_the_payment_hold_and_the_card_check_form(world: World) -> None:
    app = held_app(world)

    finance = client_for(world, "finance_a").get(f"/review/applications/{app.pk}/")
    approver = client_for(world, "approver_a").get(f"/review/applications/{app.pk}/")

    assert finance.context["payment_holds"]
    assert "disburse" not in [name for name, _label, _r, _c in finance.context["steps"]]
    assert "data-payment-hold" in finance.content.decode()
    assert approver.context["can_check_card"] is True
    assert f"/review/applications/{app.pk}/card-check/" in approver.content.decode()


def test_a_finance_officer_is_warned_that_whoever_checks_the_card_may_not_pay(
    world: World,
) -> None:
    app = held_app(world)

    finance = client_for(world, "finance_a").get(f"/review/applications/{app.pk}/")
    approver = client_for(world, "approver_a").get(f"/review/applications/{app.pk}/")

    html = finance.content.decode()
    assert finance.context["can_check_card"] is True
    # finance_a is the county's only finance officer: no one else could pay it.
    assert finance.context["checker_pays_warning"] == {"others": 0}
    assert 'id="checker-pays"' in html and "data-confirm=" in html.split('id="checker-pays"')[1]
    assert "checker_pays_warning" not in approver.context


def test_card_check_page_records_and_the_payer_pays(world: World) -> None:
    app = held_app(world)
    approver = client_for(world, "approver_a")
    finance = client_for(world, "finance_a")
    held = finance.get(f"/review/applications/{app.pk}/")
    assert held.context["payment_state"]["payable"] is False
    assert "data-payment-state" in held.content.decode()

    response = approver.post(
        f"/review/applications/{app.pk}/card-check/", {"reason": "经信用社核实，户名为户主。"}
    )
    assert response.status_code == 302
    assert len(audit_entries(app, "application.card_check")) == 1

    page = finance.get(f"/review/applications/{app.pk}/")
    assert page.context["payment_state"] == {"payable": True, "why": ""}
    assert "disburse" not in [name for name, _label, _r, _c in page.context["steps"]]
    world.pay([app])
    app.refresh_from_db()
    assert app.status == S.DISBURSED


def test_card_check_page_without_reason_records_nothing(world: World) -> None:
    app = held_app(world)

    client_for(world, "approver_a").post(
        f"/review/applications/{app.pk}/card-check/", {"reason": ""}
    )

    assert audit_entries(app, "application.card_check") == []


def test_queue_of_finance_marks_the_held_payment(world: World) -> None:
    held = held_app(world)
    plain = world.application(S.APPROVED)

    page = client_for(world, "finance_a").get("/review/queue/")

    rows = {row.application.pk: row for row in page.context["rows"]}
    assert rows[held.pk].payment_held
    assert not rows[plain.pk].payment_held


def test_a_refused_attempt_is_not_in_the_applications_timeline(world: World) -> None:
    from audit.models import AuditEntry

    app = world.application(S.TOWNSHIP_REVIEW)
    client = client_for(world, "reviewer_t1")
    client.post(f"/review/applications/{app.pk}/", {"step": "township_approve"})
    # A double tap: the second is refused (already in county review).
    client.post(f"/review/applications/{app.pk}/", {"step": "township_approve"})
    assert AuditEntry.objects.filter(
        object_id=str(app.pk), outcome=AuditEntry.Outcome.REFUSED
    ).exists()

    html = client.get(f"/applications/{app.pk}/").content.decode()

    assert "被拒绝" not in html and 'class="refused"' not in html


def test_the_decision_page_shows_the_card_and_says_what_stands_in_the_way(
    world: World,
) -> None:
    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")

    html = client_for(world, "reviewer_t1").get(f"/review/applications/{app.pk}/").content
    text = html.decode()

    # The card, masked, and the name on it: what a card check asks to verify.
    card = app.household.bank_card_masked
    assert 'id="bank-card"' in text and card in text and app.household.head_name in text
    # No step: the reason, not just "nothing to do".
    why = text[text.index('id="why-not"') :]
    assert "回避" in why[: why.index("</div>")]


def test_an_objection_open_after_the_window_is_in_the_reviewers_queue_and_on_the_board(
    world: World,
) -> None:
    from approvals.services.objections import objection_raise
    from common import clock
    from tests.factories import after_posting

    app = world.application(S.POSTED, area_code=VILLAGE_1)
    objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名顶替")
    with clock.frozen_at(after_posting(app)):
        queue = client_for(world, "reviewer_t1").get("/review/queue/").content.decode()
        board = Client().get(f"/notice/{VILLAGE_1}/").content.decode()

    section = queue[queue.index('id="objections-waiting"') :]
    assert f"/review/applications/{app.pk}/" in section[: section.index("</section>")]
    assert f'id="objected-{app.pk}"' in board and "异议" in board


def test_the_queue_finds_an_application_by_its_number(world: World) -> None:
    a = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    b = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_2)
    client = client_for(world, "reviewer_t1")

    found = client.get("/review/queue/", {"number": str(b.pk)})

    assert [row.application.pk for row in found.context["rows"]] == [b.pk]
    assert a.pk in [row.application.pk for row in client.get("/review/queue/").context["rows"]]
    assert client.get("/review/queue/", {"number": "abc"}).context["rows"] == []


def test_a_task_claim_reads_in_words_in_the_timeline(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    task = active_task(app)
    assert task is not None
    task_claim(actor=world.user("reviewer_t1"), task_id=task.pk)

    html = client_for(world, "reviewer_t1").get(f"/applications/{app.pk}/").content.decode()

    assert "NEW → ASSIGNED" not in html and "待领取 → 已领取" in html


@pytest.mark.parametrize(
    "name", ["workflows:decide", "workflows:task_claim", "workflows:task_release"]
)
def test_a_rows_url_is_what_reverse_gives(name: str) -> None:
    from django.urls import reverse

    from workflows.views import url_of_each

    each = url_of_each(name)
    for pk in (1, 7, 98_765, 987_654_321, 10**12):
        assert each(pk) == reverse(name, args=[pk])


def test_a_rows_url_needs_a_route_with_one_number() -> None:
    from django.urls import NoReverseMatch

    from workflows.views import url_of_each

    with pytest.raises(NoReverseMatch):
        url_of_each("workflows:queue")
