"""The applications API: scope of every list, count, filter, detail, transition, objection and
audit read; the inspector's read-only reach; bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from applications.chains import SUBSIDY
from applications.models import Application, ApplicationItem
from approvals.models import Decision, Objection
from approvals.services.objections import objection_raise
from audit.models import AuditEntry
from tests.factories import (
    COUNTY,
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    VILLAGE_B,
    World,
    bank_card_number,
    declare_kin,
    id_number,
    upload_signed_agreement,
)

Login = Callable[..., APIClient]
S = Application.Status

OUTSIDERS = [
    "cadre_v2",
    "cadre_v3",
    "reviewer_t2",
    "cadre_b",
    "reviewer_b",
    "approver_b",
    "finance_b",
    "inspector_b",
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def _counts() -> tuple[int, ...]:
    return (
        Application.objects.count(),
        ApplicationItem.objects.count(),
        Objection.objects.count(),
        Decision.objects.count(),
        AuditEntry.objects.count(),
    )


# --- scope: lists, counts, filters, details ----------------------------------------------------


@pytest.mark.django_db
def test_applications_list_shows_own_village(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)
    world.application(S.DRAFT, area_code=VILLAGE_3)

    response = api("cadre_v1").get("/api/v1/applications/")

    assert _ids(response) == {app.pk}
    assert response.json()["count"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_applications_list_out_of_scope_empty(world: World, api: Login, outsider: str) -> None:
    world.application(S.TOWNSHIP_REVIEW)

    response = api(outsider).get("/api/v1/applications/")

    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_applications_filters_out_of_scope_empty(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    client = api(outsider)

    for query in (
        "status=township_review",
        "status=draft,submitted,posted,township_review,county_review,approved",
        f"area={VILLAGE_1}",
        f"area={VILLAGE_1[:6]}",
        f"household={app.household_id}",
        f"program={app.program_id}",
        "ordering=-amount",
    ):
        response = client.get(f"/api/v1/applications/?{query}")
        assert response.status_code == 200, query
        assert response.json()["count"] == 0, query


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_application_detail_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api(outsider).get(f"/api/v1/applications/{app.pk}/")

    assert response.status_code == 404
    assert app.household.head_name not in response.content.decode()


@pytest.mark.django_db
def test_application_detail_absent_and_out_of_scope_look_alike(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)
    client = api("cadre_b")

    hidden = client.get(f"/api/v1/applications/{app.pk}/")
    absent = client.get("/api/v1/applications/999999/")

    assert (hidden.status_code, hidden.json()) == (absent.status_code, absent.json())


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_transitions_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    client = api(outsider)

    for name in SUBSIDY.names:
        response = client.post(
            f"/api/v1/applications/{app.pk}/transitions/{name}/", {"reason": "x"}, format="json"
        )
        assert response.status_code == 404, name

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert not Decision.objects.filter(application=app, transition="township_approve").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_transition_out_of_scope_audited(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    api(outsider).post(f"/api/v1/applications/{app.pk}/transitions/township_approve/")

    entry = AuditEntry.objects.get(actor=world.user(outsider), outcome="refused")
    assert (entry.object_type, entry.object_id) == ("application", str(app.pk))
    assert entry.action == "application.township_approve"
    assert entry.chain == VILLAGE_1[:6]


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_objections_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    client = api(outsider)

    listed = client.get(f"/api/v1/applications/{app.pk}/objections/")
    raised = client.post(
        f"/api/v1/applications/{app.pk}/objections/", {"text": "有车"}, format="json"
    )
    detail = client.get(f"/api/v1/objections/{objection.pk}/")
    resolved = client.post(
        f"/api/v1/objections/{objection.pk}/resolve/",
        {"upheld": True, "reason": "属实"},
        format="json",
    )

    assert [r.status_code for r in (listed, raised, detail, resolved)] == [404] * 4
    assert client.get("/api/v1/objections/").json()["count"] == 0
    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN
    assert Objection.objects.filter(application=app).count() == 1


@pytest.mark.django_db
def test_objection_raise_out_of_scope_audited(world: World, api: Login) -> None:
    app = world.application(S.POSTED)

    api("cadre_b").post(
        f"/api/v1/applications/{app.pk}/objections/", {"text": "有车"}, format="json"
    )

    entry = AuditEntry.objects.get(actor=world.user("cadre_b"), outcome="refused")
    assert (entry.object_type, entry.object_id) == ("application", str(app.pk))


@pytest.mark.django_db
def test_objection_resolve_out_of_scope_audited(world: World, api: Login) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    api("reviewer_t2").post(
        f"/api/v1/objections/{objection.pk}/resolve/",
        {"upheld": True, "reason": "属实"},
        format="json",
    )

    entry = AuditEntry.objects.get(actor=world.user("reviewer_t2"), outcome="refused")
    assert entry.area_code == app.area_code


@pytest.mark.django_db
def test_application_edit_out_of_scope_audited(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)

    response = api("cadre_v2").patch(
        f"/api/v1/applications/{app.pk}/",
        {"items": [{"item": "sheep", "quantity": 1}]},
        format="json",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    app.refresh_from_db()
    assert app.amount == 4000
    entry = AuditEntry.objects.get(actor=world.user("cadre_v2"), outcome="refused")
    assert entry.object_id == str(app.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_audit_list_out_of_scope_empty(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.COUNTY_REVIEW)
    client = api(outsider)

    by_application = client.get(f"/api/v1/audit/?application={app.pk}")
    everything = client.get("/api/v1/audit/?page_size=1000")

    assert by_application.status_code == 200
    assert by_application.json()["results"] == []
    assert not [e for e in everything.json()["results"] if e["area_code"].startswith("620902")]


@pytest.mark.django_db
@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_audit_detail_out_of_scope_not_found(world: World, api: Login, outsider: str) -> None:
    app = world.application(S.DRAFT)
    entry = AuditEntry.objects.filter(object_id=str(app.pk), action="application.create").get()

    response = api(outsider).get(f"/api/v1/audit/{entry.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["cadre_v1", "reviewer_t1", "approver_a", "finance_a"])
def test_audit_list_empty_for_non_inspectors(world: World, api: Login, user: str) -> None:
    world.application(S.COUNTY_REVIEW)

    response = api(user).get("/api/v1/audit/")

    assert response.json()["results"] == []


# --- the inspector: reads the county, writes nothing --------------------------------------------


@pytest.mark.django_db
def test_applications_list_inspector_sees_whole_county(world: World, api: Login) -> None:
    mine = {
        world.application(S.DRAFT).pk,
        world.application(S.POSTED, area_code=VILLAGE_3).pk,
    }
    world.application(S.DRAFT, area_code=VILLAGE_B)

    response = api("inspector_a").get("/api/v1/applications/")

    assert _ids(response) == mine


@pytest.mark.django_db
def test_application_detail_inspector_has_no_transitions(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("inspector_a").get(f"/api/v1/applications/{app.pk}/")

    assert response.status_code == 200
    assert response.json()["available_transitions"] == []


@pytest.mark.django_db
def test_audit_list_inspector_reads_application_history(world: World, api: Login) -> None:
    app = world.application(S.COUNTY_REVIEW)

    response = api("inspector_a").get(f"/api/v1/audit/?application={app.pk}")

    actions = [row["action"] for row in response.json()["results"]]
    assert set(actions) >= {
        "application.create",
        "application.submit",
        "application.start_posting",
        "application.close_posting",
        "application.township_approve",
    }


@pytest.mark.django_db
def test_audit_list_inspector_filters_by_actor_and_action(world: World, api: Login) -> None:
    world.application(S.COUNTY_REVIEW)

    response = api("inspector_a").get(
        "/api/v1/audit/?actor=reviewer_t1&action=application.township_approve"
    )

    rows = response.json()["results"]
    assert len(rows) == 1
    assert rows[0]["actor_name"] == "reviewer_t1"


@pytest.mark.django_db
def test_audit_list_inspector_filters_refusals(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)
    api("finance_a").post(f"/api/v1/applications/{app.pk}/transitions/disburse/")

    response = api("inspector_a").get("/api/v1/audit/?outcome=refused")

    assert [row["action"] for row in response.json()["results"]] == ["application.disburse"]


@pytest.mark.django_db
def test_audit_list_inspector_refuses_bad_time(world: World, api: Login) -> None:
    response = api("inspector_a").get("/api/v1/audit/?since=yesterday")

    assert response.status_code == 400
    assert "since" in response.json()


@pytest.mark.django_db
def test_audit_list_inspector_hides_other_county(world: World, api: Login) -> None:
    world.application(S.DRAFT, area_code=VILLAGE_B)

    response = api("inspector_a").get("/api/v1/audit/?page_size=1000")

    assert response.json()["results"]
    assert all(row["chain"] != VILLAGE_B[:6] for row in response.json()["results"])


def _inspector_writes(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    posted = world.application(S.POSTED)
    review = world.application(S.TOWNSHIP_REVIEW)
    approved = world.application(S.APPROVED)
    draft = world.application(S.DRAFT)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=posted.pk, text="冒名")
    writes: list[tuple[str, str, dict[str, Any]]] = [
        (
            "post",
            "/api/v1/applications/",
            {
                "household": world.household().pk,
                "program": world.program.pk,
                "items": [{"item": "sheep", "quantity": 1}],
            },
        ),
        ("patch", f"/api/v1/applications/{draft.pk}/", {"items": [{"item": "pen", "quantity": 1}]}),
        ("post", f"/api/v1/applications/{posted.pk}/objections/", {"text": "有车"}),
        ("post", f"/api/v1/objections/{objection.pk}/resolve/", {"upheld": True, "reason": "x"}),
    ]
    for app in (draft, posted, review, approved):
        for name in SUBSIDY.names:
            writes.append(
                ("post", f"/api/v1/applications/{app.pk}/transitions/{name}/", {"reason": "x"})
            )
    return writes


@pytest.mark.django_db
def test_inspector_every_write_refused(world: World, api: Login) -> None:
    writes = _inspector_writes(world)
    statuses = dict(Application.objects.values_list("pk", "status"))
    before = _counts()[:4]
    client = api("inspector_a")

    answers = [getattr(client, method)(url, data, format="json") for method, url, data in writes]

    refused = [(url, a.status_code) for (_m, url, _d), a in zip(writes, answers, strict=True)]
    assert all(400 <= code < 500 for _url, code in refused), refused
    assert _counts()[:4] == before
    assert dict(Application.objects.values_list("pk", "status")) == statuses


# --- transitions through the API ------------------------------------------------------------------


@pytest.mark.django_db
def test_transition_through_api_moves_application(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("reviewer_t1").post(
        f"/api/v1/applications/{app.pk}/transitions/township_approve/"
    )

    assert response.status_code == 200
    assert response.json()["status"] == S.COUNTY_REVIEW


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["return", "reject"])
def test_transition_without_reason_bad_request(world: World, api: Login, step: str) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("reviewer_t1").post(f"/api/v1/applications/{app.pk}/transitions/{step}/")

    assert response.status_code == 400
    assert "reason" in response.json()
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_transition_wrong_role_forbidden(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("approver_a").post(
        f"/api/v1/applications/{app.pk}/transitions/township_approve/"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "role"
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_transition_wrong_state_conflict(world: World, api: Login) -> None:
    app = world.application(S.COUNTY_REVIEW)

    response = api("reviewer_t1").post(
        f"/api/v1/applications/{app.pk}/transitions/township_approve/"
    )

    assert response.status_code == 409
    assert CJK.search(response.json()["detail"])
    assert response.json()["code"] == "wrong_state"


@pytest.mark.django_db
def test_transition_rule_refusal_names_its_rule(world: World, api: Login) -> None:
    """A refused rule answers its own code, not a generic one: here the filer approving."""
    app = world.application(S.TOWNSHIP_REVIEW)
    app.created_by = world.user("reviewer_t1")
    app.save(update_fields=["created_by"])

    response = api("reviewer_t1").post(
        f"/api/v1/applications/{app.pk}/transitions/township_approve/"
    )

    assert (response.status_code, response.json()["code"]) == (409, "separation_of_duties")


@pytest.mark.django_db
def test_transition_unknown_step_not_found(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)

    response = api("cadre_v1").post(f"/api/v1/applications/{app.pk}/transitions/approve_all/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_application_detail_out_of_scope_answers_not_found_code(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    response = api("cadre_v2").get(f"/api/v1/applications/{app.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_transition_unknown_step_answers_its_code(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)
    response = api("cadre_v1").post(f"/api/v1/applications/{app.pk}/transitions/approve_all/")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_step"


@pytest.mark.django_db
def test_transition_out_of_scope_answers_not_found_code(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("reviewer_t2").post(
        f"/api/v1/applications/{app.pk}/transitions/township_approve/"
    )

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- bulk transitions ------------------------------------------------------------------------

BULK = "/api/v1/applications/bulk-transition/"


@pytest.mark.django_db
def test_bulk_transition_answers_each_item_with_its_outcome_and_code(
    world: World, api: Login
) -> None:
    ok = world.application(S.TOWNSHIP_REVIEW)
    wrong_state = world.application(S.COUNTY_REVIEW)
    outside = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_3)
    objected = world.application(S.TOWNSHIP_REVIEW)
    Objection.objects.create(application=objected, text="不实", status=Objection.Status.OPEN)

    response = api("reviewer_t1").post(
        BULK,
        {"transition": "township_approve", "ids": [ok.pk, wrong_state.pk, outside.pk, objected.pk]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["done"], body["refused"]) == (1, 3)
    by_id = {r["application_id"]: r for r in body["results"]}
    assert [r["application_id"] for r in body["results"]] == [
        ok.pk,
        wrong_state.pk,
        outside.pk,
        objected.pk,
    ]
    assert by_id[ok.pk]["done"] and by_id[ok.pk]["code"] is None
    assert by_id[wrong_state.pk]["code"] == "wrong_state"
    assert by_id[outside.pk] == {
        "application_id": outside.pk,
        "head_name": "",
        "done": False,
        "code": "not_found",
        "detail": by_id[outside.pk]["detail"],
    }
    assert by_id[objected.pk]["code"] == "objection_open"
    ok.refresh_from_db()
    objected.refresh_from_db()
    assert (ok.status, objected.status) == (S.COUNTY_REVIEW, S.TOWNSHIP_REVIEW)
    assert AuditEntry.objects.filter(
        action="application.township_approve", outcome="refused", object_id=str(objected.pk)
    ).exists()


@pytest.mark.django_db
def test_bulk_transition_approve_takes_the_approval_each_application_awaits(
    world: World, api: Login
) -> None:
    township = world.application(S.TOWNSHIP_REVIEW)
    county = world.application(S.COUNTY_REVIEW)

    body = (
        api("approver_a")
        .post(BULK, {"transition": "approve", "ids": [township.pk, county.pk]}, format="json")
        .json()
    )

    outcomes = {r["application_id"]: (r["done"], r["code"]) for r in body["results"]}
    assert outcomes == {township.pk: (False, "role"), county.pk: (True, None)}
    county.refresh_from_db()
    assert county.status == S.APPROVED


@pytest.mark.django_db
def test_bulk_transition_return_needs_a_reason_per_item(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    response = api("reviewer_t1").post(
        BULK, {"transition": "return", "ids": [app.pk]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["done"] is False
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_bulk_transition_unknown_step_not_found_and_changes_nothing(
    world: World, api: Login
) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    before = _counts()

    response = api("reviewer_t1").post(
        BULK, {"transition": "approve_all", "ids": [app.pk]}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (404, "unknown_step")
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("ids", [[], ["x"], [0], list(range(1, 202))])
def test_bulk_transition_bad_ids_refused(world: World, api: Login, ids: list[Any]) -> None:
    response = api("reviewer_t1").post(
        BULK, {"transition": "township_approve", "ids": ids}, format="json"
    )

    assert response.status_code == 400
    assert "ids" in response.json()


@pytest.mark.django_db
def test_application_detail_lists_available_transitions(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)

    response = api("cadre_v1").get(f"/api/v1/applications/{app.pk}/")

    body = response.json()
    assert set(body["available_transitions"]) == {"submit", "withdraw"}
    number_mask = app.household.head_id_masked
    assert body["head_id_masked"] == number_mask
    assert body["amount"] == "4000.00"


@pytest.mark.django_db
def test_objection_through_api_blocks_posting_close(world: World, api: Login) -> None:
    app = world.application(S.POSTED)

    response = api("cadre_v1").post(
        f"/api/v1/applications/{app.pk}/objections/", {"text": "他家有轿车"}, format="json"
    )

    assert response.status_code == 201
    assert Objection.objects.get(application=app).status == Objection.Status.OPEN


@pytest.mark.django_db
def test_objection_resolve_through_api_upheld_rejects(world: World, api: Login) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    response = api("reviewer_t1").post(
        f"/api/v1/objections/{objection.pk}/resolve/",
        {"upheld": True, "reason": "属实"},
        format="json",
    )

    assert response.status_code == 200
    app.refresh_from_db()
    assert app.status == S.REJECTED


@pytest.mark.django_db
def test_objection_markup_stored_as_text(world: World, api: Login) -> None:
    app = world.application(S.POSTED)
    markup = "<script>document.cookie</script>&amp;"

    response = api("cadre_v1").post(
        f"/api/v1/applications/{app.pk}/objections/", {"text": markup}, format="json"
    )

    assert response["Content-Type"].startswith("application/json")
    assert response.json()["text"] == markup
    assert Objection.objects.get(application=app).text == markup


@pytest.mark.django_db
def test_return_reason_markup_returned_as_text(world: World, api: Login) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    markup = "<b>缺</b> 照片"

    response = api("reviewer_t1").post(
        f"/api/v1/applications/{app.pk}/transitions/return/", {"reason": markup}, format="json"
    )

    assert response.json()["last_reason"] == markup


# --- applications: bad input ----------------------------------------------------------------------


def _application_payload(world: World, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "household": world.household().pk,
        "program": world.program.pk,
        "items": [{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 5}],
    }
    payload.update(overrides)
    return payload


def _post_refused(api: Login, payload: dict[str, Any], field: str, **login: Any) -> Any:
    before = _counts()

    response = api("cadre_v1", **login).post("/api/v1/applications/", payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _counts() == before
    return response


@pytest.mark.django_db
def test_application_create_through_api(world: World, api: Login) -> None:
    response = api("cadre_v1").post(
        "/api/v1/applications/", _application_payload(world), format="json"
    )

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["amount"]) == (S.DRAFT, "4000.00")


@pytest.mark.django_db
def test_application_create_negative_quantity_refused(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": -3}])

    response = _post_refused(api, payload, "items")

    assert "quantity" in str(response.json()["items"])


@pytest.mark.django_db
def test_application_create_zero_quantity_refused(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": 0}])

    _post_refused(api, payload, "items")


@pytest.mark.django_db
def test_application_create_fractional_quantity_refused(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": 2.5}])

    _post_refused(api, payload, "items")


@pytest.mark.django_db
def test_application_create_over_cap_refused(world: World, api: Login) -> None:
    payload = _application_payload(
        world, items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 11}]
    )

    response = _post_refused(api, payload, "items")

    assert "5000" in str(response.json()["items"])


@pytest.mark.django_db
def test_application_create_huge_quantity_refused(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": 10**12}])

    _post_refused(api, payload, "items")


@pytest.mark.django_db
def test_application_create_unknown_item_refused(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "cow", "quantity": 1}])

    response = api("cadre_v1").post("/api/v1/applications/", payload, format="json")

    assert response.status_code == 400
    assert any(key.startswith("items") for key in response.json())


@pytest.mark.django_db
def test_application_create_unknown_item_saves_nothing(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "cow", "quantity": 1}])
    before = _counts()

    api("cadre_v1").post("/api/v1/applications/", payload, format="json")

    assert _counts() == before


@pytest.mark.django_db
def test_application_create_markup_item_code_refused_as_text(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "<b>pen</b>", "quantity": 1}])

    response = api("cadre_v1").post("/api/v1/applications/", payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "<b>pen</b>" in str(response.json())


@pytest.mark.django_db
def test_application_create_duplicate_item_refused(world: World, api: Login) -> None:
    payload = _application_payload(
        world, items=[{"item": "sheep", "quantity": 1}, {"item": "sheep", "quantity": 2}]
    )

    response = api("cadre_v1").post("/api/v1/applications/", payload, format="json")

    assert response.status_code == 400


@pytest.mark.django_db
def test_application_create_no_items_refused(world: World, api: Login) -> None:
    _post_refused(api, _application_payload(world, items=[]), "items")


@pytest.mark.django_db
def test_application_create_other_county_program_refused(world: World, api: Login) -> None:
    _post_refused(api, _application_payload(world, program=world.program_b.pk), "program")


@pytest.mark.django_db
def test_application_create_second_active_refused(world: World, api: Login) -> None:
    app = world.application(S.DRAFT)

    _post_refused(api, _application_payload(world, household=app.household_id), "household")


@pytest.mark.django_db
def test_application_errors_in_chinese_by_default(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": -3}])

    response = _post_refused(api, payload, "items")

    assert CJK.search(str(response.json()["items"]))


@pytest.mark.django_db
def test_application_errors_in_english_when_asked(world: World, api: Login) -> None:
    payload = _application_payload(world, items=[{"item": "sheep", "quantity": -3}])

    response = _post_refused(api, payload, "items", language="en")

    assert "greater than or equal to 1" in str(response.json()["items"])
    assert not CJK.search(str(response.json()["items"]))


@pytest.mark.django_db
def test_applications_list_bad_filter_refused(world: World, api: Login) -> None:
    client = api("cadre_v1")

    answers = [
        client.get(f"/api/v1/applications/?{query}").status_code
        for query in ("status=paid", "household=abc", "area=6209x", "ordering=password")
    ]

    assert answers == [400, 400, 400, 400]


# --- conflict of interest and the payment holds (DOMAIN rules 4 and 5) ------------------------


@pytest.mark.django_db
def test_recused_reviewer_forbidden_with_the_reason(world: World, api: Login) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    app = world.application(S.TOWNSHIP_REVIEW, household=household)
    declare_kin(official=world.user("reviewer_t1"), relation="spouse", id_number=relative)
    client = api("reviewer_t1")

    detail = client.get(f"/api/v1/applications/{app.pk}/").json()
    response = client.post(f"/api/v1/applications/{app.pk}/transitions/township_approve/")

    assert detail["kin_flagged"] is True
    assert detail["available_transitions"] == []
    assert response.status_code == 403
    assert response.json()["code"] == "recused"
    assert CJK.search(response.json()["detail"])
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_application_list_shows_the_kin_flag(world: World, api: Login) -> None:
    relative = id_number()
    flagged = world.application(
        S.TOWNSHIP_REVIEW, household=world.household(VILLAGE_1, head_id_number=relative)
    )
    plain = world.application(S.TOWNSHIP_REVIEW)
    declare_kin(official=world.user("cadre_v1"), relation="parent", id_number=relative)

    rows = api("reviewer_t1").get("/api/v1/applications/").json()["results"]

    by_id = {row["id"]: row for row in rows}
    assert by_id[flagged.pk]["kin_flagged"] is True
    assert by_id[plain.pk]["kin_flagged"] is False
    assert "township_approve" in by_id[flagged.pk]["available_transitions"]  # not recused


@pytest.mark.django_db
def test_card_check_through_the_api_releases_the_payment(world: World, api: Login) -> None:
    card = bank_card_number()
    household = world.household(VILLAGE_1, bank_card=card)
    world.household(VILLAGE_2, bank_card=card)
    app = world.application(S.APPROVED, household=household)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    url = f"/api/v1/applications/{app.pk}/"

    rounds = "/api/v1/payment-rounds/"
    one = {"program": app.program_id, "area": COUNTY, "applications": [app.pk]}

    held = api("finance_a").post(rounds, one, format="json")
    check = api("approver_a").post(url + "card-check/", {"reason": "经银行核实。"}, format="json")
    drawn = api("finance_a").post(rounds, one, format="json")

    assert held.status_code == 409
    assert held.json()["code"] == "card_held"
    assert check.status_code == 201, check.content
    assert check.json()["checked_by"] == "approver_a"
    assert card not in check.content.decode()
    assert drawn.status_code == 201, drawn.content
    assert [line["application"] for line in drawn.json()["lines"]] == [app.pk]


@pytest.mark.django_db
def test_card_check_through_the_api_refused_to_a_cadre(world: World, api: Login) -> None:
    app = world.application(S.APPROVED)

    response = api("cadre_v1").post(
        f"/api/v1/applications/{app.pk}/card-check/", {"reason": "核实。"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "role"


def _list_queries(client: APIClient, url: str) -> tuple[int, list[Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["results"]


def test_finance_list_costs_the_same_queries_for_three_or_nine_payable_rows(
    world: World, api: Callable[..., APIClient]
) -> None:
    """Approved rows offer finance no step (payment goes through a round), and a page costs
    the same whatever its length."""
    client = api("finance_a")
    url = "/api/v1/applications/?status=approved"
    for _ in range(3):
        app = world.application("approved")
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    few, rows = _list_queries(client, url)
    assert len(rows) == 3 and all(r["available_transitions"] == [] for r in rows)
    for _ in range(6):
        app = world.application("approved")
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    many, rows = _list_queries(client, url)
    assert len(rows) == 9 and all(r["available_transitions"] == [] for r in rows)
    assert many == few


def test_reviewer_list_costs_the_same_queries_for_three_or_nine_rows_to_decide(
    world: World, api: Callable[..., APIClient]
) -> None:
    """Rows the reviewer may decide ask each whether the reviewer is recused (declared kin,
    or a flag raised once): for the whole page at once, not row by row. The recused row
    offers no step."""
    from tests.factories import kin_app

    client = api("reviewer_t1")
    url = "/api/v1/applications/?status=township_review"
    recused = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")
    for _ in range(2):
        world.application(S.TOWNSHIP_REVIEW)
    few, rows = _list_queries(client, url)
    assert len(rows) == 3
    for _ in range(6):
        world.application(S.TOWNSHIP_REVIEW)
    many, rows = _list_queries(client, url)
    assert len(rows) == 9
    steps = {r["id"]: r["available_transitions"] for r in rows}
    assert steps.pop(recused.pk) == []
    assert all("township_approve" in s for s in steps.values())
    assert many == few


@pytest.mark.django_db
def test_schema_documents_every_refusal_code(world: World, api: Login) -> None:
    from common.errors import Code

    schema = api("cadre_v1").get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    enum = schema["components"]["schemas"]["RefusalCodeEnum"]["enum"]
    assert set(enum) == {c.value for c in Code}
    transition = schema["paths"]["/api/v1/applications/{id}/transitions/{name}/"]["post"]
    assert {"403", "404", "409"} <= set(transition["responses"])


@pytest.mark.django_db
def test_a_step_asked_for_the_minimal_answer_gets_204_and_no_body(world: World, api: Login) -> None:
    """``Prefer: return=minimal`` (RFC 7240): the step is taken, the answer is 204 with
    ``Preference-Applied`` and no application; a refusal is the same refusal."""
    app = world.application(S.TOWNSHIP_REVIEW)
    client = api("reviewer_t1")
    url = f"/api/v1/applications/{app.pk}/transitions/township_approve/"

    taken = client.post(url, {}, format="json", HTTP_PREFER='respond-async, return = "minimal"')

    assert taken.status_code == 204
    assert taken["Preference-Applied"] == "return=minimal"
    assert "Prefer" in taken["Vary"]
    assert taken.content == b""
    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW
    again = client.post(url, {}, format="json", HTTP_PREFER="return=minimal")
    assert again.status_code == 409
    assert again.json()["code"] == "wrong_state"
    described = api("approver_a").post(
        f"/api/v1/applications/{app.pk}/transitions/county_approve/", {}, format="json"
    )
    assert described.status_code == 200
    assert described.json()["status"] == S.APPROVED
