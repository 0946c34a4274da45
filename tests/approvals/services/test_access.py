"""``approvals.services.access``: the refusals of access, on the record: outside the actor's
area, and conflict of interest (recusal, kin flags; DOMAIN rule 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from applications.models import Application, KinDeclaration, KinFlag
from applications.roles import Role
from applications.services import (
    role_grant,
)
from approvals import policy
from approvals.models import Decision, Objection
from approvals.services.filing import application_create, application_edit
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import application_transition
from audit.models import AuditEntry
from common.errors import Code, Forbidden, NotFound, Refused
from tests.factories import (
    COUNTY,
    TOWNSHIP_1,
    TOWNSHIP_2,
    VILLAGE_1,
    VILLAGE_3,
    World,
    colleague,
    declare_kin,
    id_number,
    upload_signed_agreement,
)

S = Application.Status


# --- scope of the services ------------------------------------------------------------------


@pytest.mark.django_db
def test_transition_out_of_scope_not_found(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)

    with pytest.raises(NotFound) as refused:
        application_transition(
            actor=world.user("reviewer_t2"), application_id=app.pk, name="township_approve"
        )
    assert refused.value.code == Code.NOT_FOUND

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_transition_out_of_scope_audited(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    outsider = world.user("reviewer_b")

    with pytest.raises(NotFound) as refused:
        application_transition(actor=outsider, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.NOT_FOUND

    entry = AuditEntry.objects.get(actor=outsider, outcome=AuditEntry.Outcome.REFUSED)
    assert entry.object_id == str(app.pk)
    assert entry.area_code == app.area_code


# --- conflict of interest: recusal and kin flags (DOMAIN rule 4) ----------------------------


def kin_application(
    world: World, status: str, *, relative: str, area_code: str = VILLAGE_1
) -> Application:
    """An application walked to ``status`` for a household whose head holds the ID number
    ``relative``."""
    household = world.household(area_code, head_id_number=relative)
    return world.application(status, household=household)


def recusal_entries(application_id: int, action: str) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            object_type="application",
            object_id=str(application_id),
            action=action,
            outcome=AuditEntry.Outcome.REFUSED,
            reason=policy.recusal_refusal().message,
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("relation", KinDeclaration.RECUSING)
def test_close_relative_recuses_the_reviewer(world: World, relation: str) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=relation, id_number=relative)

    with pytest.raises(Forbidden) as refused:
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    assert refused.value.code == Code.RECUSED
    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW
    assert KinFlag.objects.filter(application=app, official=reviewer).count() == 1


@pytest.mark.django_db
def test_other_relative_is_on_record_but_does_not_recuse(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.OTHER, id_number=relative)

    application_transition(actor=reviewer, application_id=app.pk, name="township_approve")

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW
    assert not KinFlag.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_a_member_other_than_the_head_recuses_too(world: World) -> None:
    relative = id_number()
    household = world.household(
        VILLAGE_1, members=[{"name": "李秀英", "id_number": relative, "relation": "spouse"}]
    )
    app = world.application(S.TOWNSHIP_REVIEW, household=household)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.CHILD, id_number=relative)

    with pytest.raises(Forbidden) as refused:
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.RECUSED


# (status of the application, step, the role refused; a colleague of the role takes it)
RECUSED_STEPS = [
    (S.DRAFT, "submit", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.SUBMITTED, "start_posting", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.DRAFT, "withdraw", Role.VILLAGE_CADRE, VILLAGE_1),
    (S.TOWNSHIP_REVIEW, "township_approve", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.TOWNSHIP_REVIEW, "return", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.TOWNSHIP_REVIEW, "reject", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    (S.COUNTY_REVIEW, "county_approve", Role.COUNTY_APPROVER, COUNTY),
    (S.COUNTY_REVIEW, "return", Role.COUNTY_APPROVER, COUNTY),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "step", "role", "area"), RECUSED_STEPS)
def test_recused_official_refused_each_step_while_a_colleague_takes_it(
    world: World, status: str, step: str, role: str, area: str
) -> None:
    relative = id_number()
    app = kin_application(world, status, relative=relative)
    official = world.actor(role, VILLAGE_1)
    declare_kin(official=official, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)
    other = colleague(f"{role}_colleague", role, area)
    reason = "核实后决定" if step in ("return", "reject") else ""

    with pytest.raises(Forbidden) as refused:
        application_transition(actor=official, application_id=app.pk, name=step, reason=reason)
    assert refused.value.code == Code.RECUSED
    app.refresh_from_db()
    assert app.status == status
    assert len(recusal_entries(app.pk, f"application.{step}")) == 1

    application_transition(actor=other, application_id=app.pk, name=step, reason=reason)
    app.refresh_from_db()
    assert app.status != status
    assert Decision.objects.filter(application=app, transition=step, actor=other).exists()


@pytest.mark.django_db
def test_recused_finance_officer_leaves_the_household_out_while_a_colleague_pays(
    world: World,
) -> None:
    relative = id_number()
    app = kin_application(world, S.APPROVED, relative=relative)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
    official = world.user("finance_a")
    declare_kin(official=official, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)
    other = colleague("finance_colleague", Role.FINANCE_OFFICER, COUNTY)

    with pytest.raises(Refused) as refused:
        world.pay([app], maker=official)
    assert refused.value.code == Code.RECUSED
    app.refresh_from_db()
    assert app.status == S.APPROVED

    world.pay([app], maker=other)
    app.refresh_from_db()
    assert app.status == S.DISBURSED


@pytest.mark.django_db
def test_recused_cadre_may_not_file_while_a_colleague_may(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.SIBLING, id_number=relative)
    other = colleague("cadre_v1_colleague", Role.VILLAGE_CADRE, VILLAGE_1)

    with pytest.raises(Forbidden) as refused:
        application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}],
        )
    assert refused.value.code == Code.RECUSED
    assert not Application.objects.filter(household=household).exists()
    assert AuditEntry.objects.filter(
        action="application.create",
        object_type="household",
        object_id=str(household.pk),
        outcome=AuditEntry.Outcome.REFUSED,
    ).exists()

    app = application_create(
        actor=other,
        household_id=household.pk,
        program_id=world.program.pk,
        items=[{"item": "pen", "quantity": 1}],
    )
    # Filed by the colleague: the cadre's own conflict is flagged at once.
    assert KinFlag.objects.filter(application=app, official=cadre).exists()


@pytest.mark.django_db
def test_cadre_recused_from_a_household_containing_themselves(world: World) -> None:
    own = id_number()
    household = world.household(
        VILLAGE_1, members=[{"name": "马自己", "id_number": own, "relation": "child"}]
    )
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.SELF, id_number=own)

    with pytest.raises(Forbidden) as refused:
        application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=world.program.pk,
            items=[{"item": "pen", "quantity": 1}],
        )
    assert refused.value.code == Code.RECUSED


@pytest.mark.django_db
def test_recused_cadre_may_not_edit_nor_attach(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative)
    cadre = world.user("cadre_v1")
    declare_kin(official=cadre, relation=KinDeclaration.Relation.PARENT, id_number=relative)

    with pytest.raises(Forbidden) as refused:
        application_edit(
            actor=cadre, application_id=app.pk, items=[{"item": "sheep", "quantity": 2}]
        )
    assert refused.value.code == Code.RECUSED
    with pytest.raises(Forbidden) as refused:
        upload_signed_agreement(actor=cadre, application_id=app.pk)
    assert refused.value.code == Code.RECUSED

    app.refresh_from_db()
    assert app.amount == Decimal("4000.00")
    assert not app.attachments.exists()
    assert len(recusal_entries(app.pk, "application.edit")) == 1
    assert len(recusal_entries(app.pk, "attachment.add")) == 1


@pytest.mark.django_db
def test_recused_reviewer_may_not_resolve_objections_while_a_colleague_may(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.POSTED, relative=relative)
    objection = objection_raise(
        actor=world.user("cadre_v1"), application_id=app.pk, text="反映该户条件较好。"
    )
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.GRANDCHILD, id_number=relative)
    other = colleague("reviewer_t1_colleague", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1)

    with pytest.raises(Forbidden) as refused:
        objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=True, reason="成立")
    assert refused.value.code == Code.RECUSED
    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN

    objection_resolve(actor=other, objection_id=objection.pk, upheld=False, reason="不成立")
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED


@pytest.mark.django_db
def test_recusal_applies_only_to_the_declaring_official(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.TOWNSHIP_REVIEW, relative=relative)
    declare_kin(
        official=world.user("approver_a"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    application_transition(
        actor=world.user("reviewer_t1"), application_id=app.pk, name="township_approve"
    )

    app.refresh_from_db()
    assert app.status == S.COUNTY_REVIEW


@pytest.mark.django_db
def test_kin_flag_written_to_the_audit_trail_once(world: World) -> None:
    head, spouse = id_number(), id_number()
    household = world.household(
        VILLAGE_1,
        head_id_number=head,
        members=[{"name": "李秀英", "id_number": spouse, "relation": "spouse"}],
    )
    app = world.application(S.TOWNSHIP_REVIEW, household=household)
    reviewer = world.user("reviewer_t1")

    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SIBLING, id_number=head)
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SIBLING, id_number=spouse)
    with pytest.raises(Forbidden) as refused:
        application_transition(actor=reviewer, application_id=app.pk, name="township_approve")
    assert refused.value.code == Code.RECUSED

    entries = AuditEntry.objects.filter(
        object_type="application", object_id=str(app.pk), action="application.kin_flag"
    )
    assert entries.count() == 1
    entry = entries.get()
    assert entry.changes["official"] == [None, "reviewer_t1"]
    assert entry.changes["relation"] == [None, "sibling"]
    assert head not in str(entry.changes)
    assert KinFlag.objects.filter(application=app).count() == 1


@pytest.mark.django_db
def test_kin_flag_detected_at_filing(world: World) -> None:
    relative = id_number()
    household = world.household(VILLAGE_1, head_id_number=relative)
    reviewer = world.user("reviewer_t1")
    declare_kin(official=reviewer, relation=KinDeclaration.Relation.PARENT, id_number=relative)
    assert not KinFlag.objects.exists()

    app = world.application(S.DRAFT, household=household)

    flag = KinFlag.objects.get(application=app)
    assert flag.official == reviewer
    entry = AuditEntry.objects.get(object_id=str(app.pk), action="application.kin_flag")
    assert entry.actor_name == "cadre_v1"


@pytest.mark.django_db
def test_kin_flag_needs_a_role_in_the_applications_area(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative, area_code=VILLAGE_3)
    reviewer = world.user("reviewer_t1")  # 泉湖乡; the household is in 东洞乡

    declare_kin(official=reviewer, relation=KinDeclaration.Relation.SPOUSE, id_number=relative)
    assert not KinFlag.objects.filter(application=app).exists()

    role_grant(
        actor=None, username="reviewer_t1", role=Role.TOWNSHIP_REVIEWER, area_code=TOWNSHIP_2
    )
    assert KinFlag.objects.filter(application=app, official=reviewer).count() == 1


@pytest.mark.django_db
def test_inspectors_relatives_are_not_flagged(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.DRAFT, relative=relative)

    declare_kin(
        official=world.user("inspector_a"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    assert not KinFlag.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_closed_applications_are_not_flagged(world: World) -> None:
    relative = id_number()
    app = kin_application(world, S.WITHDRAWN, relative=relative)

    declare_kin(
        official=world.user("reviewer_t1"),
        relation=KinDeclaration.Relation.SPOUSE,
        id_number=relative,
    )

    assert not KinFlag.objects.filter(application=app).exists()
