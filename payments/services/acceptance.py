"""Acceptance before payment (先建后补): the township inspects the work of each approved
application of a program that requires it, the county re-checks a random sample of the
accepted ones, and only what passed (and passed the re-check where sampled) is payable.

The sample is drawn from a recorded seed over the recorded population, so anyone can draw it
again (``sample_redraw``) and see that nobody chose it."""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from applications.models import Application
from applications.roles import Role
from applications.selectors import applications_visible_to, has_role_in
from applications.services import program_version_current
from approvals import policy
from approvals.models import Attachment
from approvals.services.attachments import attachment_checked, attachment_store
from approvals.services.transitions import application_rejected_after_acceptance
from audit.services import audit_record, audit_refusal
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refusal, Refused
from payments.models import Acceptance, AcceptanceSample, PaymentLine, SampledAcceptance
from payments.policy import (
    REJECTABLE_STATES,
    VISIT_STATES,
    AcceptanceState,
    acceptance_state,
)
from payments.selectors import holding_application_ids
from payments.services.scope import program_and_area

S = Application.Status
MAX_NOTES = 2000
MAX_PHOTOS = 10


def _approved_locked(actor: Actor, application_id: int) -> Application:
    app = (
        applications_visible_to(actor)
        .select_for_update(no_key=True, of=("self",))
        .select_related("program_version")
        .filter(pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    if not app.program_version.acceptance_required:
        raise Refused(_("This program pays without an acceptance visit."), code=Code.WRONG_STATE)
    if app.status != S.APPROVED:
        raise Refused(
            _("An acceptance is recorded for an approved application awaiting payment."),
            code=Code.WRONG_STATE,
        )
    return app


def _result(result: str, notes: str) -> tuple[str, str]:
    if result not in Acceptance.Result.values:
        raise InvalidInput({"result": [_("Choose passed or failed.")]})
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise InvalidInput({"notes": [_("Notes have at most 2000 characters.")]})
    if result == Acceptance.Result.FAILED and not notes:
        raise InvalidInput({"notes": [_("Say what failed the acceptance.")]})
    return result, notes


def acceptance_record(
    *,
    actor: Actor,
    application_id: int,
    result: str,
    notes: str,
    photos: Sequence[Any] = (),
) -> Acceptance:
    """A township reviewer records the acceptance visit of an approved application, with
    the photos taken on it (attachments of kind ``acceptance_photo``).

    Guarantees: the reviewer holds the township role there and is not the application's
    cadre (who filed or submitted it: ``separation_of_duties``); a second visit only after a
    failed one the county allowed to be rectified (``wrong_state`` otherwise); every photo
    is checked before anything is written, and the visit and its photos are written in one
    transaction (all or nothing); audited."""
    inspector = person(actor)
    result, notes = _result(result, notes)
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput({"photos": [_("At most %(n)d photos per visit.") % {"n": MAX_PHOTOS}]})
    checked = [attachment_checked(photo, field="photos") for photo in photos]
    with ExitStack() as stack, transaction.atomic():
        app = _approved_locked(actor, application_id)
        if not has_role_in(actor, Role.TOWNSHIP_REVIEWER, app.area_code):
            raise Forbidden(_("Only a township reviewer records the acceptance visit."))
        if policy.is_filer(actor, app):
            raise Refused(
                _("Whoever filed or submitted an application may not accept its work."),
                code=Code.SEPARATION_OF_DUTIES,
            )
        last = app.acceptances.order_by("-visit").first()
        if acceptance_state(last, None) not in VISIT_STATES:
            raise Refused(
                _("The acceptance is recorded; another visit needs the county's leave."),
                code=Code.WRONG_STATE,
            )
        acceptance = Acceptance.objects.create(
            application=app,
            visit=(last.visit + 1) if last else 1,
            result=result,
            notes=notes,
            inspected_by=inspector,
        )
        for photo in checked:
            attachment_store(
                actor=actor,
                app=app,
                kind=Attachment.Kind.ACCEPTANCE_PHOTO,
                file=photo,
                stack=stack,
            )
        audit_record(
            actor=actor,
            action="acceptance.record",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={
                "visit": [None, acceptance.visit],
                "result": [None, result],
                "photos": [None, len(checked)],
            },
            reason=notes,
        )
    return acceptance


def acceptance_rectification_allow(*, actor: Actor, application_id: int, reason: str) -> Acceptance:
    """The county allows another visit after a failed one, once the household has rectified
    the work (整改). Audited with the reason."""
    official = person(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Give the reason for allowing another visit.")]})
    with transaction.atomic():
        app = _approved_locked(actor, application_id)
        if not has_role_in(actor, Role.COUNTY_APPROVER, app.area_code):
            raise Forbidden(_("Only the county approver allows another acceptance visit."))
        last = app.acceptances.select_for_update(no_key=True).order_by("-visit").first()
        if last is None or acceptance_state(last, None) != AcceptanceState.FAILED:
            raise Refused(_("Another visit is allowed after a failed one."), code=Code.WRONG_STATE)
        last.rectification_allowed_by = official
        last.save(update_fields=["rectification_allowed_by"])
        audit_record(
            actor=actor,
            action="acceptance.rectification_allow",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={"visit": [None, last.visit]},
            reason=reason,
        )
    return last


def acceptance_reject(*, actor: Actor, application_id: int, reason: str) -> Application:
    """The county rejects an approved application whose work failed acceptance: the last
    township visit failed (and no other visit is allowed), or the county's own re-check
    failed. The chain's ``reject`` step, with the reason (the budget it committed is
    released); ``acceptance_only`` when the acceptance did not fail. A refusal changes
    nothing and is on the record."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            {"reason": [_("A reason is required to return or reject an application.")]},
            code=Code.REASON_REQUIRED,
        )
    if len(reason) > MAX_NOTES:
        raise InvalidInput({"reason": [_("A reason has at most 2000 characters.")]})
    try:
        with transaction.atomic():
            return _reject_locked(actor, application_id, reason)
    except (Refused, Forbidden) as error:
        audit_refusal(
            actor=actor,
            action="application.reject",
            object_type="application",
            object_id=application_id,
            from_state=S.APPROVED,
            reason=error.message,
        )
        raise


def _reject_locked(actor: Actor, application_id: int, reason: str) -> Application:
    app = _approved_locked(actor, application_id)
    if not has_role_in(actor, Role.COUNTY_APPROVER, app.area_code):
        raise Forbidden(_("Only the county approver rejects after a failed acceptance."))
    state = acceptance_state(
        app.acceptances.order_by("-visit").first(),
        SampledAcceptance.objects.filter(application=app).first(),
    )
    if PaymentLine.objects.filter(application=app, status__in=PaymentLine.HOLDING).exists():
        raise Refused(
            _(
                "It is in an open payment round: cancel the round, or wait for the bank's "
                "answer, before rejecting it."
            ),
            code=Code.IN_OPEN_ROUND,
        )
    if state not in REJECTABLE_STATES:
        raise Refused(
            _(
                "An approved application is rejected only after a failed acceptance visit of "
                "its work."
            ),
            code=Code.ACCEPTANCE_ONLY,
        )
    return application_rejected_after_acceptance(actor=actor, application_id=app.pk, reason=reason)


def sample_redraw(*, seed: str, population: Sequence[int], percent: int) -> list[int]:
    """The sample a seed draws from a population: ``ceil(percent% × population)``
    applications, ascending. Pure: the same seed and population give the same sample."""
    size = math.ceil(len(population) * percent / 100)
    return sorted(random.Random(seed).sample(sorted(population), size))  # noqa: S311


def acceptance_sample_draw(*, actor: Actor, program_id: int, area_code: str) -> AcceptanceSample:
    """The county draws its re-check sample among the accepted applications of a program in
    the area that no sample has taken yet and no open round holds: the program's percent of
    them, rounded up, by a fresh random seed. The seed, the population and the drawn
    applications are on the record."""
    official = person(actor)
    program, area = program_and_area(
        actor=actor,
        program_id=program_id,
        area_code=area_code,
        role=Role.COUNTY_APPROVER,
        refusal=_("Only the county approver draws the re-check sample."),
    )
    with transaction.atomic():
        # Locked, so that two draws at once cannot both sample an application.
        passed = Acceptance.objects.filter(
            application=OuterRef("pk"), result=Acceptance.Result.PASSED
        )
        sampled = SampledAcceptance.objects.filter(application=OuterRef("pk"))
        # In an open round already: its payment is on its way, a re-check would come late.
        held = PaymentLine.objects.filter(
            application=OuterRef("pk"), status__in=PaymentLine.HOLDING
        )
        accepted = list(
            Application.objects.select_for_update(no_key=True, of=("self",))
            .filter(program=program, status=S.APPROVED, area_code__startswith=area.prefix)
            .filter(Exists(passed), ~Exists(sampled), ~Exists(held))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not accepted:
            raise Refused(
                _("No accepted application is waiting for the county's sample."),
                code=Code.NOTHING_PAYABLE,
            )
        # Read again now that the rows are locked: a round committed while this draw waited
        # for them is seen by this new statement (not by the locking one's snapshot).
        held_now = holding_application_ids(accepted)
        accepted = [pk for pk in accepted if pk not in held_now]
        if not accepted:
            raise Refused(
                _("No accepted application is waiting for the county's sample."),
                code=Code.NOTHING_PAYABLE,
            )
        percent = program_version_current(program).acceptance_sample_percent
        seed = secrets.token_hex(16)
        chosen = sample_redraw(seed=seed, population=accepted, percent=percent)
        sample = AcceptanceSample.objects.create(
            program=program,
            area_code=area.code,
            seed=seed,
            percent=percent,
            population=accepted,
            drawn_by=official,
        )
        SampledAcceptance.objects.bulk_create(
            [SampledAcceptance(sample=sample, application_id=pk) for pk in chosen]
        )
        audit_record(
            actor=actor,
            action="acceptance.sample_draw",
            object_type="acceptance_sample",
            object_id=sample.pk,
            area_code=area.code,
            changes={
                "seed": [None, seed],
                "percent": [None, percent],
                "population": [None, accepted],
                "chosen": [None, chosen],
            },
        )
    return sample


def acceptance_recheck(
    *, actor: Actor, application_id: int, result: str, notes: str
) -> SampledAcceptance:
    """The county records its re-check of a sampled application (once; audited)."""
    official = person(actor)
    result, notes = _result(result, notes)
    with transaction.atomic():
        app = _approved_locked(actor, application_id)
        if not has_role_in(actor, Role.COUNTY_APPROVER, app.area_code):
            raise Forbidden(_("Only the county approver records the re-check."))
        item = (
            SampledAcceptance.objects.select_for_update(no_key=True).filter(application=app).first()
        )
        if item is None or item.result:
            raise Refused(
                _("The re-check is recorded for a sampled application, once."),
                code=Code.WRONG_STATE,
            )
        item.result, item.notes, item.checked_by = result, notes, official
        item.checked_at = clock.now()
        item.save()
        audit_record(
            actor=actor,
            action="acceptance.recheck",
            object_type="application",
            object_id=app.pk,
            area_code=app.area_code,
            changes={"result": [None, result]},
            reason=notes,
        )
    return item


def acceptance_refusals(apps: Sequence[Application]) -> dict[int, Refusal]:
    """Why each of these applications may not be paid yet for want of acceptance (only
    those of programs that require it): none recorded, the last visit failed, or sampled
    by the county and not re-checked (or failed the re-check)."""
    needing = [a for a in apps if a.program_version.acceptance_required]
    if not needing:
        return {}
    last: dict[int, Acceptance] = {}
    for acceptance in Acceptance.objects.filter(application__in=needing).order_by("visit"):
        last[acceptance.application_id] = acceptance
    sampled = {
        s.application_id: s for s in SampledAcceptance.objects.filter(application__in=needing)
    }
    out: dict[int, Refusal] = {}
    for app in needing:
        visit = last.get(app.pk)
        state = acceptance_state(visit, sampled.get(app.pk))
        if state == AcceptanceState.VISIT_DUE:
            out[app.pk] = Refusal(
                Code.ACCEPTANCE_MISSING,
                _("The township has not recorded the acceptance visit yet."),
            )
        elif state == AcceptanceState.REVISIT_DUE:
            out[app.pk] = Refusal(
                Code.ACCEPTANCE_MISSING,
                _("Rectification is allowed; the township has not visited again yet."),
            )
        elif state == AcceptanceState.FAILED and visit is not None:
            out[app.pk] = Refusal(
                Code.ACCEPTANCE_FAILED,
                _("The acceptance visit failed: %(notes)s") % {"notes": visit.notes},
            )
        elif state == AcceptanceState.RECHECK_DUE:
            out[app.pk] = Refusal(
                Code.ACCEPTANCE_RECHECK_MISSING,
                _("The county sampled it for a re-check, not recorded yet."),
            )
        elif state == AcceptanceState.RECHECK_FAILED:
            out[app.pk] = Refusal(Code.ACCEPTANCE_FAILED, _("The county's re-check failed."))
    return out
