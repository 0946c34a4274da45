"""Objections raised during the public posting (by a cadre or the public), and their
resolution by the township: upheld rejects the application, dismissed lets it go on."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils.translation import gettext as _

from applications.models import (
    Application,
)
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    has_role_in,
    is_everywhere,
    roles_in,
)
from approvals import policy
from approvals.models import Objection
from approvals.services.access import (
    MAX_OBJECTION,
    MAX_REASON,
    READ_ONLY_ROLES,
    _lock_for,
    _refuse_if_recused,
    access_refused,
)
from approvals.services.transitions import _Refusal, _transition_locked, posting_close_if_due
from audit.services import audit_record, audit_refusal
from common import clock
from common.actors import Actor, person, person_or_none
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused

# Within this time the same words on the same application are the same objection sent twice.
DUPLICATE_WINDOW = timedelta(minutes=10)


def objection_raise(
    *,
    actor: Actor,
    application_id: int,
    text: str,
    raised_by_name: str = "",
    contact: str = "",
    public: bool = False,
) -> Objection:
    """Raise an objection during posting. ``public=True`` is the notice board: anyone,
    anonymous allowed, only for applications in posting. Audited."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": [_("Write what the objection is about.")]})
    if len(text) > MAX_OBJECTION:
        raise InvalidInput({"text": [_("An objection has at most 2000 characters.")]})
    if len(raised_by_name) > 50 or len(contact) > 50:
        raise InvalidInput({"raised_by_name": [_("A name or contact has at most 50 characters.")]})
    if not public:
        area_code = (
            applications_visible_to(actor)
            .filter(pk=application_id)
            .values_list("area_code", flat=True)
            .first()
        )
        if area_code is None:
            access_refused(actor=actor, application_id=application_id, action="objection.raise")
            raise NotFound(_("No such application in your area."))
        # An inspector reads everything and changes nothing: a role that acts is needed.
        if not is_everywhere(actor) and not roles_in(actor, area_code) - READ_ONLY_ROLES:
            audit_refusal(
                actor=actor,
                action="objection.raise",
                object_type="application",
                object_id=application_id,
                area_code=area_code,
                reason="read-only role",
            )
            raise Forbidden(_("Your role may not take this step here."), code=Code.ROLE)
    with transaction.atomic():
        qs = Application.objects.all() if public else applications_visible_to(actor)
        app = qs.select_for_update(no_key=True, of=("self",)).filter(pk=application_id).first()
        if app is None:
            raise NotFound(_("No such application in your area."))
        refusal = policy.objection_refusal(app)
        if refusal is not None:
            raise refusal.refused()
        # A double tap or a second tab: the same words on the same application a moment ago
        # (under the application's lock, so two at once make one).
        if Objection.objects.filter(
            application=app,
            text=text,
            raised_by=person_or_none(actor),
            raised_by_name=raised_by_name.strip(),
            created_at__gte=clock.now() - DUPLICATE_WINDOW,
        ).exists():
            raise Refused(
                _("This objection was recorded a moment ago; it is not recorded twice."),
                code=Code.OBJECTION_DUPLICATE,
            )
        objection = Objection.objects.create(
            application=app,
            text=text,
            raised_by=person_or_none(actor),
            raised_by_name=raised_by_name.strip(),
            contact=contact.strip(),
        )
        audit_record(
            actor=actor,
            action="objection.raise",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={"objection": [None, str(objection.pk)], "text": [None, text]},
        )
    return objection


def objection_resolve(*, actor: Actor, objection_id: int, upheld: bool, reason: str) -> Objection:
    """A township reviewer resolves an objection: upheld rejects the application, dismissed
    lets it go on (and closes the posting at once when its window has passed and nothing
    else is open)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Give the reason for the resolution.")]})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    application_id = (
        Objection.objects.filter(pk=objection_id).values_list("application_id", flat=True).first()
    )
    scoped = (
        applications_visible_to(actor)
        .filter(pk=application_id)
        .values_list("household_id", "area_code")
        .first()
        if application_id is not None
        else None
    )
    if application_id is not None and scoped is None:
        access_refused(actor=actor, application_id=application_id, action="objection.resolve")
        raise NotFound(_("No such objection in your area."))
    if scoped is not None:
        _refuse_if_recused(
            actor=actor,
            household_id=scoped[0],
            area_code=scoped[1],
            action="objection.resolve",
            object_type="application",
            object_id=application_id,
        )
    try:
        with transaction.atomic():
            found = (
                Objection.objects.filter(
                    pk=objection_id, application__in=applications_visible_to(actor)
                )
                .values_list("application_id", flat=True)
                .first()
            )
            if found is None:
                raise NotFound(_("No such objection in your area."))
            # Lock order everywhere: the application first, then what hangs off it.
            app = _lock_for(actor, found, "objection.resolve")
            objection = Objection.objects.select_for_update(no_key=True).get(pk=objection_id)
            if not has_role_in(actor, Role.TOWNSHIP_REVIEWER, app.area_code):
                raise Forbidden(_("Only a township reviewer resolves objections."))
            if objection.status != Objection.Status.OPEN:
                raise Refused(
                    _("This objection is already resolved."), code=Code.OBJECTION_RESOLVED
                )
            objection.status = Objection.Status.UPHELD if upheld else Objection.Status.DISMISSED
            objection.resolved_by = person(actor)
            objection.resolved_at = clock.now()
            objection.resolution_reason = reason
            objection.save()
            audit_record(
                actor=actor,
                action="objection.resolve",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                changes={"objection": [str(objection.pk), objection.status]},
                reason=reason,
            )
            if upheld:
                _transition_locked(
                    actor=actor,
                    application_id=app.pk,
                    name="reject",
                    reason=reason,
                    now=clock.now(),
                    via_objection=True,
                )
    except _Refusal as refusal:
        # The rejection an upheld objection asks for is refused (the application has left
        # its posting, say): nothing is resolved, and the refusal is on the record.
        audit_refusal(
            actor=actor,
            action="application.reject",
            object_type="application",
            object_id=application_id if application_id is not None else "",
            area_code=refusal.area_code,
            from_state=refusal.from_state,
            reason=str(refusal.error),
        )
        raise refusal.error from None
    if not upheld:
        posting_close_if_due(application_id=app.pk)
    return objection
