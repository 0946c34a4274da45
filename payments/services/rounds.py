"""Drawing up a payment round (发放清册), approving it (a second person), cancelling it.

A round takes every payable application of its program and area at once. Payable: approved,
not in another open round, and allowed by the chain's paying rules for the officer who draws
it up (signed agreement, the head's bank card not held, not the filer or an approver, not
recused). The others are listed with the rule's code and sentence."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from applications.chains import chain_for_kind, chain_of
from applications.models import Application, Area, Person, Program
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    households_with_hashes,
    recusing_hashes,
)
from approvals import policy
from approvals.selectors import applications_recused, card_facts_of, signed_agreements_of
from audit.hashing import canonical_json
from audit.services import audit_record, audit_refusal
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refusal, Refused
from payments import hooks
from payments.models import PaymentLine, PaymentRound, RoundExclusion
from payments.policy import APPROVABLE, CANCELLABLE, is_round_approver
from payments.selectors import holding_application_ids, payment_rounds_visible_to
from payments.services.acceptance import acceptance_refusals
from payments.services.scope import program_and_area

S = Application.Status


@dataclass(frozen=True)
class _Candidate:
    application: Application
    refusal: Refusal | None
    # A claim's line (``payments.hooks``): what it pays, and which claim.
    amount: Decimal | None = None
    claim_id: int | None = None

    @property
    def line_amount(self) -> Decimal:
        return self.application.amount if self.amount is None else self.amount


def _candidates(
    actor: Actor, program: Program, prefix: str, application_ids: Collection[int] | None
) -> list[_Candidate]:
    """The approved applications of the program in the area (of ``application_ids`` only,
    when given), locked (so that two officers drawing up rounds at once do not both take
    one), each with why it may not be paid now."""
    qs = applications_visible_to(actor).filter(
        program=program, status=S.APPROVED, area_code__startswith=prefix
    )
    if application_ids is not None:
        qs = qs.filter(pk__in=application_ids)
    apps = list(
        qs.select_for_update(no_key=True, of=("self",))
        .select_related("household", "program", "program_version")
        .order_by("pk")
    )
    return _weigh(actor, apps)


def _weigh(actor: Actor, apps: list[Application]) -> list[_Candidate]:
    """Each approved application with why ``actor`` may not put it in a round now (None: it
    is payable), reading what the rules need for all of them at once."""
    ids = [a.pk for a in apps]
    held = holding_application_ids(ids)
    unfixed = _failed_and_unchanged(apps)
    unaccepted = acceptance_refusals(apps)
    signed = signed_agreements_of(ids)
    cards = card_facts_of(apps)
    recused = applications_recused(actor, apps)
    now = clock.now()
    out: list[_Candidate] = []
    for app in apps:
        if app.pk in held:
            refusal: Refusal | None = Refusal(
                Code.IN_OPEN_ROUND, _("It is already in another open payment round.")
            )
        elif app.pk in unaccepted:
            refusal = unaccepted[app.pk]
        elif app.pk in unfixed:
            refusal = Refusal(
                Code.PAYMENT_FAILED,
                _(
                    "The bank returned its last payment (%(reason)s); correct the card or the "
                    "name on it before it is paid again."
                )
                % {"reason": unfixed[app.pk]},
            )
        else:
            step = next(s for s in chain_of(app).steps if s.pays)
            refusal = policy.transition_refusal(
                step.name,
                app,
                actor,
                open_objections=0,
                now=now,
                signed_agreement=app.pk in signed,
                recused=app.pk in recused,
                card=cards.get(app.pk),
                via_round=True,
            )
        out.append(_Candidate(app, refusal))
    return out


def payment_refusal(actor: Actor, application: Application) -> Refusal | None:
    """Why ``actor`` could not put this approved application in a payment round now, or None
    (read only: what a page shows of a payment that waits)."""
    return _weigh(actor, [application])[0].refusal


def _program_candidates(
    actor: Actor, program: Program, prefix: str, ids: Collection[int] | None
) -> list[_Candidate]:
    """What a round of the program may pay: its approved applications, when its chain pays
    them; else the claims its kind's payer offers (``ids``: of those claims only);
    ``InvalidInput`` for a program that pays nothing through rounds."""
    chain = chain_for_kind(program.kind)
    if chain is not None and any(step.pays for step in chain.steps):
        return _candidates(actor, program, prefix, ids)
    payer = hooks.payer_of(program.kind)
    if payer is None:
        raise InvalidInput({"program": [_("This program pays nothing through payment rounds.")]})
    return [
        _Candidate(p.application, p.refusal, p.amount, p.claim_id)
        for p in payer.payables(actor, program, prefix, ids)
    ]


def _nothing_payable(candidates: list[_Candidate], chosen: bool) -> Refused:
    """The refusal of a round with no line. For a round of chosen applications (``chosen``):
    ``wrong_state`` when none is approved, the application's own reason when there is one;
    else how many were left out for which reason."""
    refusals = [c.refusal for c in candidates if c.refusal is not None]
    if chosen and not candidates:
        return Refused(
            _("Only approved applications are paid; none of these is approved and unpaid."),
            code=Code.WRONG_STATE,
        )
    if chosen and len(refusals) == 1:
        return refusals[0].refused()
    counts: dict[str, int] = {}
    for refusal in refusals:
        counts[refusal.message] = counts.get(refusal.message, 0) + 1
    why = "；".join(f"{message} ({n})" for message, n in sorted(counts.items())[:5])
    message = _("No application of this program is payable in this area now.")
    return Refused(f"{message} {why}".strip(), code=Code.NOTHING_PAYABLE)


def _failed_and_unchanged(apps: list[Application]) -> dict[int, str]:
    """Of these applications, those whose last payment the bank returned and whose card and
    name are still the ones it returned (sending them again would fail again): the bank's
    reason, by application."""
    last: dict[int, PaymentLine] = {}
    for line in (
        PaymentLine.objects.filter(application__in=apps)
        .exclude(status=PaymentLine.Status.WITHDRAWN)
        .order_by("pk")
    ):
        last[line.application_id] = line
    out: dict[int, str] = {}
    for app in apps:
        previous = last.get(app.pk)
        household = app.household
        if (
            previous is not None
            and previous.status == PaymentLine.Status.FAILED
            and previous.card_hash == household.bank_card_hash
            and previous.payee_name == (household.bank_card_holder or household.head_name)
        ):
            out[app.pk] = previous.failure_reason
    return out


def _reference(prefix: str, pk: int) -> str:
    return f"PR{prefix[:6]}{pk:08d}"


def payment_round_create(
    *,
    actor: Actor,
    program_id: int,
    area_code: str,
    application_ids: Collection[int] | None = None,
) -> PaymentRound:
    """Draw up a round in ``draft`` from every payable application of the program in the
    county or township (of ``application_ids`` only, when given: the others are left alone,
    neither lines nor exclusions).

    Guarantees: the actor is a finance officer of the area (else ``Forbidden``); every
    approved application of the program there is either a line (with its snapshot: payee,
    card, ID number, amount, a reference unique across the system) or an exclusion with its
    code; an application is in at most one open round (locked while it is read, and a
    database constraint besides); the round and its totals are on the record; nothing is
    written when nothing is payable (``Refused``, ``nothing_payable``)."""
    maker = person(actor)
    program, area = program_and_area(
        actor=actor,
        program_id=program_id,
        area_code=area_code,
        role=Role.FINANCE_OFFICER,
        refusal=_("Only a finance officer of the county draws up a payment round."),
    )
    try:
        return _round_create(actor, maker, program, area, application_ids)
    except Refused as refused:
        audit_refusal(
            actor=actor,
            action="payment_round.create",
            object_type="program",
            object_id=program.code,
            area_code=area.code,
            reason=refused.message,
        )
        raise


def _round_create(
    actor: Actor,
    maker: User,
    program: Program,
    area: Area,
    application_ids: Collection[int] | None,
) -> PaymentRound:
    with transaction.atomic():
        candidates = _program_candidates(actor, program, area.prefix, application_ids)
        chosen = [c for c in candidates if c.refusal is None]
        payable = [c.application for c in chosen]
        if not payable:
            raise _nothing_payable(candidates, chosen=application_ids is not None)
        heads = dict(
            Person.objects.filter(
                household_id__in={a.household_id for a in payable}, relation=Person.Relation.HEAD
            ).values_list("household_id", "id_cipher")
        )
        round_ = PaymentRound.objects.create(
            reference=f"new-{clock.now().timestamp()}",
            program=program,
            area_code=area.code,
            made_by=maker,
            count=len(chosen),
            total=sum((c.line_amount for c in chosen), Decimal("0.00")),
        )
        round_.reference = _reference(area.code, round_.pk)
        round_.save(update_fields=["reference"])
        try:
            PaymentLine.objects.bulk_create(
                [
                    PaymentLine(
                        round=round_,
                        application=c.application,
                        household=c.application.household,
                        claim_id=c.claim_id,
                        reference=f"{round_.reference}-{n:05d}",
                        payee_name=(
                            c.application.household.bank_card_holder
                            or c.application.household.head_name
                        ),
                        card_cipher=c.application.household.bank_card_cipher,
                        card_hash=c.application.household.bank_card_hash,
                        card_masked=c.application.household.bank_card_masked,
                        id_cipher=heads.get(c.application.household_id, ""),
                        amount=c.line_amount,
                    )
                    for n, c in enumerate(chosen, start=1)
                ]
            )
        except IntegrityError:
            raise Refused(
                _("Another payment round took some of these applications a moment ago."),
                code=Code.IN_OPEN_ROUND,
            ) from None
        RoundExclusion.objects.bulk_create(
            [
                RoundExclusion(
                    round=round_,
                    application=c.application,
                    code=str(c.refusal.code),
                    reason=c.refusal.message[:300],
                )
                for c in candidates
                if c.refusal is not None
            ]
        )
        audit_record(
            actor=actor,
            action="payment_round.create",
            object_type="payment_round",
            object_id=round_.reference,
            area_code=area.code,
            to_state=round_.status,
            changes={
                "program": [None, program.code],
                "count": [None, round_.count],
                "total": [None, round_.total],
                "excluded": [None, len(candidates) - len(chosen)],
            },
        )
    return round_


def _locked(actor: Actor, round_id: int) -> PaymentRound:
    round_ = (
        payment_rounds_visible_to(actor)
        .select_for_update(no_key=True, of=("self",))
        .select_related("program")
        .filter(pk=round_id)
        .first()
    )
    if round_ is None:
        raise NotFound(_("No such payment round in your area."))
    return round_


def list_digest(round_: PaymentRound) -> str:
    """The SHA-256 of the round's list as approved: its reference, and each line's reference,
    payee, card (its lookup hash) and amount, in canonical JSON."""
    lines = (
        round_.lines.exclude(status=PaymentLine.Status.WITHDRAWN)
        .order_by("reference")
        .values_list("reference", "payee_name", "card_hash", "amount")
    )
    content: list[Any] = [round_.reference, [[r, n, c, str(a)] for r, n, c, a in lines]]
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def payment_round_approve(*, actor: Actor, round_id: int) -> PaymentRound:
    """Approve a drawn-up round: another finance officer or the county approver.

    Guarantees: never whoever drew it up (``separation_of_duties``); the lines of households
    the approver is recused from leave the round (excluded as ``recused``) rather than be
    approved by them; the list is frozen: its SHA-256 (``list_digest``), count and total go
    on the record."""
    approver = person(actor)
    with transaction.atomic():
        round_ = _locked(actor, round_id)
        if not is_round_approver(actor, round_.area_code):
            raise Forbidden(
                _("Only another finance officer or the county approver approves a round.")
            )
        if round_.status not in APPROVABLE:
            raise Refused(
                _("Only a round in draft is approved; this one is %(status)s.")
                % {"status": round_.get_status_display()},
                code=Code.WRONG_STATE,
            )
        if round_.made_by_id == approver.pk:
            raise Refused(
                _("Whoever drew up a payment round may not approve it."),
                code=Code.SEPARATION_OF_DUTIES,
            )
        lines = list(round_.lines.filter(status=PaymentLine.Status.PENDING))
        recused = households_with_hashes(
            {line.household_id for line in lines}, recusing_hashes(actor)
        )
        leaving = [line for line in lines if line.household_id in recused]
        for line in leaving:
            line.status = PaymentLine.Status.WITHDRAWN
            line.failure_reason = _("The approver is recused from this household.")
        PaymentLine.objects.bulk_update(leaving, ["status", "failure_reason"])
        RoundExclusion.objects.bulk_create(
            [
                RoundExclusion(
                    round=round_,
                    application_id=line.application_id,
                    code=str(Code.RECUSED),
                    reason=policy.recusal_refusal().message[:300],
                )
                for line in leaving
            ]
        )
        kept = [line for line in lines if line.household_id not in recused]
        if not kept:
            raise Refused(
                _("Nothing is left in this round for you to approve."),
                code=Code.NOTHING_PAYABLE,
            )
        round_.count = len(kept)
        round_.total = sum((line.amount for line in kept), Decimal("0.00"))
        round_.status = PaymentRound.Status.APPROVED
        round_.approved_by = approver
        round_.approved_at = clock.now()
        round_.list_sha256 = list_digest(round_)
        round_.save()
        audit_record(
            actor=actor,
            action="payment_round.approve",
            object_type="payment_round",
            object_id=round_.reference,
            area_code=round_.area_code,
            from_state=PaymentRound.Status.DRAFT,
            to_state=round_.status,
            changes={
                "count": [None, round_.count],
                "total": [None, round_.total],
                "list_sha256": [None, round_.list_sha256],
                "recused_out": [None, len(leaving)],
            },
        )
    return round_


def payment_round_cancel(*, actor: Actor, round_id: int, reason: str) -> PaymentRound:
    """Cancel a round before its bank file has been sent: its lines let their applications
    go (a later round may take them). Audited with the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": [_("Give the reason for cancelling the round.")]})
    with transaction.atomic():
        round_ = _locked(actor, round_id)
        if not is_round_approver(actor, round_.area_code):
            raise Forbidden(_("Only a finance officer or the county approver cancels a round."))
        if round_.status not in CANCELLABLE:
            raise Refused(
                _("A round is cancelled only before its bank file is sent; this one is %(s)s.")
                % {"s": round_.get_status_display()},
                code=Code.WRONG_STATE,
            )
        from_state = round_.status
        round_.lines.filter(status__in=PaymentLine.HOLDING).update(
            status=PaymentLine.Status.WITHDRAWN
        )
        round_.status = PaymentRound.Status.CANCELLED
        round_.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="payment_round.cancel",
            object_type="payment_round",
            object_id=round_.reference,
            area_code=round_.area_code,
            from_state=from_state,
            to_state=round_.status,
            reason=reason,
        )
    return round_
