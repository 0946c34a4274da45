"""Correcting a kin declaration (issue 13, item 12): a new declaration supersedes the wrong
one, which is kept as it was; only declarations in force match; audited; refusals change
nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from applications.models import KinDeclaration, KinFlag
from applications.selectors import recusing_hashes
from applications.services import kin_correct
from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, Refused
from tests.factories import VILLAGE_1, S, World, declare_kin, id_number, kin_app

pytestmark = pytest.mark.django_db


def test_a_correction_supersedes_and_keeps_the_wrong_declaration(world: World) -> None:
    official = world.user("reviewer_t1")
    wrong_number, right_number = id_number(), id_number()
    wrong = declare_kin(official=official, relation="spouse", id_number=wrong_number)

    right = kin_correct(
        actor=official,
        declaration_id=wrong.pk,
        relation="spouse",
        name="王亲属",
        id_number=right_number,
        reason="身份证号抄错一位",
    )

    wrong.refresh_from_db()
    assert right.supersedes_id == wrong.pk and right.correction_reason == "身份证号抄错一位"
    assert wrong.superseded_at is not None
    assert (wrong.relation, wrong.name, wrong.id_hash) == ("spouse", "王亲属", wrong.id_hash)
    assert KinDeclaration.objects.filter(official=official).count() == 2
    hashes = recusing_hashes(official)
    assert right.id_hash in hashes and wrong.id_hash not in hashes
    entry = AuditEntry.objects.get(action="kin.correct")
    assert entry.reason == "身份证号抄错一位"
    assert entry.changes["id"] == [wrong.id_masked, right.id_masked]
    assert wrong_number not in str(entry.changes) and right_number not in str(entry.changes)


def test_a_correction_flags_the_relatives_applications_and_the_old_flags_stay(
    world: World,
) -> None:
    flagged = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")
    old = KinDeclaration.objects.get(official=world.user("reviewer_t1"))
    relative = id_number()
    other = world.application(
        S.TOWNSHIP_REVIEW, household=world.household(VILLAGE_1, head_id_number=relative)
    )

    kin_correct(
        actor=world.user("reviewer_t1"),
        declaration_id=old.pk,
        relation="sibling",
        name="王亲属",
        id_number=relative,
        reason="备案的是哥哥，不是配偶",
    )

    assert KinFlag.objects.filter(application=flagged).exists()  # written once, kept
    assert KinFlag.objects.filter(application=other).exists()


def test_correcting_twice_the_same_declaration_is_refused(world: World) -> None:
    official = world.user("reviewer_t1")
    wrong = declare_kin(official=official, relation="spouse", id_number=id_number())
    kin_correct(
        actor=official,
        declaration_id=wrong.pk,
        relation="parent",
        name="王亲属",
        id_number=id_number(),
        reason="关系填错",
    )

    with pytest.raises(Refused) as refused:
        kin_correct(
            actor=official,
            declaration_id=wrong.pk,
            relation="child",
            name="王亲属",
            id_number=id_number(),
            reason="再改一次",
        )

    assert refused.value.code == Code.ALREADY_CORRECTED
    assert KinDeclaration.objects.filter(official=official).count() == 2


def test_a_correction_may_fix_only_the_relation_of_the_same_person(world: World) -> None:
    official = world.user("reviewer_t1")
    number = id_number()
    wrong = declare_kin(official=official, relation="other", id_number=number)

    right = kin_correct(
        actor=official,
        declaration_id=wrong.pk,
        relation="spouse",
        name="王亲属",
        id_number=number,
        reason="是配偶",
    )

    assert right.id_hash == wrong.id_hash and right.relation == "spouse"
    assert right.id_hash in recusing_hashes(official)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": " "}, "reason"),
        ({"id_number": "123"}, "id_number"),
        ({"relation": "cousin"}, "relation"),
        ({"relation": "spouse", "reason": "同样"}, "detail"),
    ],
)
def test_bad_corrections_are_refused_and_change_nothing(
    world: World, change: dict[str, str], field: str
) -> None:
    official = world.user("reviewer_t1")
    number = id_number()
    wrong = declare_kin(official=official, relation="spouse", id_number=number)
    values = {
        "relation": "parent",
        "name": "王亲属",
        "id_number": number,
        "reason": "关系填错",
    } | change

    with pytest.raises(InvalidInput) as refused:
        kin_correct(actor=official, declaration_id=wrong.pk, **values)

    assert field in refused.value.errors
    wrong.refresh_from_db()
    assert wrong.superseded_at is None
    assert KinDeclaration.objects.filter(official=official).count() == 1


def test_someone_elses_declaration_cannot_be_corrected(world: World) -> None:
    wrong = declare_kin(
        official=world.user("reviewer_t1"), relation="spouse", id_number=id_number()
    )

    with pytest.raises(Forbidden) as refused:
        kin_correct(
            actor=world.user("approver_a"),
            declaration_id=wrong.pk,
            relation="parent",
            name="王亲属",
            id_number=id_number(),
            reason="改别人的",
        )

    assert refused.value.code == Code.NOT_SELF
    assert AuditEntry.objects.filter(action="kin.correct", outcome="refused").exists()
    wrong.refresh_from_db()
    assert wrong.superseded_at is None


def test_the_kin_page_corrects_a_declaration_and_shows_both(world: World) -> None:
    official = world.user("reviewer_t1")
    wrong = declare_kin(official=official, relation="spouse", id_number=id_number())
    client = Client()
    client.force_login(official)

    listing = client.get("/kin/").content.decode()
    response = client.post(
        f"/kin/{wrong.pk}/correct/",
        {"relation": "parent", "name": "王亲属", "id_number": id_number(), "reason": "关系填错"},
    )
    after = client.get("/kin/").content.decode()

    assert f'href="/kin/{wrong.pk}/correct/"' in listing
    assert response.status_code == 302
    assert f'href="/kin/{wrong.pk}/correct/"' not in after
    assert 'class="superseded"' in after and "关系填错" in after
    assert client.get(f"/kin/{wrong.pk}/correct/").status_code == 404


def test_the_api_corrects_a_declaration(world: World) -> None:
    from rest_framework.test import APIClient

    official = world.user("reviewer_t1")
    wrong = declare_kin(official=official, relation="spouse", id_number=id_number())
    api = APIClient()
    api.force_authenticate(official)

    response = api.post(
        f"/api/v1/kin-declarations/{wrong.pk}/correct/",
        {"relation": "parent", "name": "王亲属", "id_number": id_number(), "reason": "关系填错"},
        format="json",
    )
    again = api.post(
        f"/api/v1/kin-declarations/{wrong.pk}/correct/",
        {"relation": "child", "name": "王亲属", "id_number": id_number(), "reason": "再改"},
        format="json",
    )

    assert response.status_code == 201 and response.json()["supersedes"] == wrong.pk
    assert again.status_code == 409 and again.json()["code"] == "already_corrected"


def test_a_correction_does_not_end_a_recusal_already_recorded(world: World) -> None:
    """Correcting the relative's declaration away (another number, a relation that does
    not recuse) just before acting would defeat rule 4: the flag keeps the recusal."""
    from approvals.services.transitions import available_transitions

    app = kin_app(world, S.TOWNSHIP_REVIEW, "reviewer_t1")
    official = world.user("reviewer_t1")
    old = KinDeclaration.objects.get(official=official)
    assert available_transitions(app, official) == []

    kin_correct(
        actor=official,
        declaration_id=old.pk,
        relation="other",
        name="王亲属",
        id_number=id_number(),
        reason="填错了",
    )

    app.refresh_from_db()
    assert available_transitions(app, official) == []
    with pytest.raises(Forbidden) as refused:
        from approvals.services.transitions import application_transition

        application_transition(actor=official, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.RECUSED
