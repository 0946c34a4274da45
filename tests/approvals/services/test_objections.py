"""``approvals.services.objections``: objections raised during the public posting and their
resolution."""

from __future__ import annotations

import pytest

from applications.models import Application
from approvals.models import Decision, Objection
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import postings_close_due
from common.errors import Code, Forbidden, Refused
from tests.factories import (
    World,
    after_posting,
)

S = Application.Status


@pytest.mark.django_db
def test_objection_upheld_rejects_application(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=True, reason="属实"
    )

    app.refresh_from_db()
    objection.refresh_from_db()
    assert app.status == S.REJECTED
    assert objection.status == Objection.Status.UPHELD
    assert Decision.objects.filter(application=app, transition="reject").count() == 1


@pytest.mark.django_db
def test_objection_dismissed_keeps_application_posted(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=False, reason="不实"
    )

    app.refresh_from_db()
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_objection_dismissed_lets_posting_close(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    objection_resolve(
        actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=False, reason="不实"
    )

    assert postings_close_due(now=after_posting(app)) == 1

    app.refresh_from_db()
    assert app.status == S.TOWNSHIP_REVIEW


@pytest.mark.django_db
def test_objection_resolve_refused_for_village_cadre(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")

    with pytest.raises(Forbidden) as refused:
        objection_resolve(
            actor=world.user("cadre_v1"), objection_id=objection.pk, upheld=True, reason="属实"
        )
    assert refused.value.code == Code.ROLE

    objection.refresh_from_db()
    assert objection.status == Objection.Status.OPEN


@pytest.mark.django_db
def test_objection_resolve_refused_twice(world: World) -> None:
    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    reviewer = world.user("reviewer_t1")
    objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=False, reason="不实")

    with pytest.raises(Refused) as refused:
        objection_resolve(actor=reviewer, objection_id=objection.pk, upheld=True, reason="属实")
    assert refused.value.code == Code.OBJECTION_RESOLVED

    app.refresh_from_db()
    assert app.status == S.POSTED


@pytest.mark.django_db
def test_objection_raise_refused_outside_posting(world: World) -> None:
    app = world.application(S.SUBMITTED)

    with pytest.raises(Refused) as refused:
        objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    assert refused.value.code == Code.OBJECTION_WINDOW

    assert not Objection.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_objection_raise_public_allows_anonymous(world: World) -> None:
    app = world.application(S.POSTED)

    objection = objection_raise(actor=None, application_id=app.pk, text="有房有车", public=True)

    assert objection.raised_by is None
    assert objection.status == Objection.Status.OPEN


@pytest.mark.django_db
def test_objection_upheld_on_a_withdrawn_application_is_refused_and_recorded(
    world: World,
) -> None:
    """The rejection an upheld objection asks for is refused when the application has left
    its posting: a refusal with its code, the objection still open, the refusal recorded
    (it was a server error before)."""
    from approvals.services.transitions import application_transition
    from audit.models import AuditEntry

    app = world.application(S.POSTED)
    objection = objection_raise(actor=world.user("cadre_v1"), application_id=app.pk, text="冒名")
    application_transition(actor=world.user("cadre_v1"), application_id=app.pk, name="withdraw")

    with pytest.raises(Refused) as refused:
        objection_resolve(
            actor=world.user("reviewer_t1"), objection_id=objection.pk, upheld=True, reason="属实"
        )

    assert refused.value.code == Code.WRONG_STATE
    objection.refresh_from_db()
    app.refresh_from_db()
    assert (objection.status, app.status) == (Objection.Status.OPEN, S.WITHDRAWN)
    assert AuditEntry.objects.filter(
        action="application.reject", outcome="refused", object_id=str(app.pk)
    ).exists()


@pytest.mark.django_db
def test_the_same_public_objection_sent_twice_is_recorded_once(world: World) -> None:
    from datetime import timedelta

    from django.contrib.auth.models import AnonymousUser

    from common import clock

    app = world.application(S.POSTED)
    text = "该户家中有大型农机，不符合条件。"

    def send() -> Objection:
        return objection_raise(actor=AnonymousUser(), application_id=app.pk, text=text, public=True)

    first = send()
    with pytest.raises(Refused) as twice:
        send()  # a double tap, or the same form sent from a second tab

    assert twice.value.code == Code.OBJECTION_DUPLICATE
    assert list(Objection.objects.filter(application=app)) == [first]
    # Other words are another objection; the same words later are one too.
    objection_raise(actor=AnonymousUser(), application_id=app.pk, text="冒名顶替", public=True)
    with clock.frozen_at(clock.now() + timedelta(minutes=11)):
        send()
    assert Objection.objects.filter(application=app).count() == 3
