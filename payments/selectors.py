"""Reads of payment rounds, scoped like everything else: a round is visible to whoever sees
its area (the county's finance officers, approvers and inspectors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from applications.idnumbers import mask_name
from applications.models import Application, Program
from applications.selectors import applications_visible_to, area_scoped
from common.actors import Actor
from payments.models import (
    Acceptance,
    AcceptanceSample,
    PaymentLine,
    PaymentRound,
    SampledAcceptance,
)
from payments.policy import AcceptanceState, acceptance_state


def payment_rounds_visible_to(user: Actor) -> QuerySet[PaymentRound]:
    return area_scoped(PaymentRound.objects.all(), user, "area_code")


def payment_round_get(user: Actor, pk: int) -> PaymentRound | None:
    return (
        payment_rounds_visible_to(user)
        .select_related("program", "made_by", "approved_by")
        .filter(pk=pk)
        .first()
    )


def holding_application_ids(application_ids: list[int]) -> set[int]:
    """Of these applications, those a line of an open round holds."""
    return set(
        PaymentLine.objects.filter(
            application_id__in=application_ids,
            status__in=PaymentLine.HOLDING,
            claim_id__isnull=True,
        ).values_list("application_id", flat=True)
    )


def payment_discrepancies_visible_to(user: Actor, *, limit: int) -> list[PaymentLine]:
    """The lines the bank paid a different amount than was sent (截留 leaves this trace:
    ``paid_amount_mismatch`` for inspectors), in the user's area, newest answer first."""
    rounds = payment_rounds_visible_to(user)
    return list(
        PaymentLine.objects.filter(round__in=rounds, status=PaymentLine.Status.DISCREPANCY)
        .select_related("round", "household")
        .order_by("-answered_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class Budget:
    """Where a program's money stands: the budget; committed by county approvals; in open
    rounds; paid (confirmed by the bank); failed (returned by the bank, to be paid again);
    and what is left to approve."""

    budget: Decimal
    committed: Decimal
    in_rounds: Decimal
    paid: Decimal
    failed: Decimal
    left: Decimal


def program_budget(program: Program) -> Budget:
    lines = PaymentLine.objects.filter(round__program=program)
    sums = lines.aggregate(
        in_rounds=Sum("amount", filter=Q(status__in=PaymentLine.HOLDING)),
        paid=Sum("paid_amount", filter=Q(status=PaymentLine.Status.PAID)),
    )
    # Failed and still to be paid: an application's last line, failed, while it waits
    # approved (not yet in another round, nor paid since, nor rejected).
    later = PaymentLine.objects.filter(application=OuterRef("application"), pk__gt=OuterRef("pk"))
    sums |= (
        lines.filter(
            status=PaymentLine.Status.FAILED, application__status=Application.Status.APPROVED
        )
        .exclude(Exists(later))
        .aggregate(failed=Sum("amount"))
    )
    zero = Decimal("0.00")
    return Budget(
        budget=program.budget,
        committed=program.committed,
        in_rounds=sums["in_rounds"] or zero,
        paid=sums["paid"] or zero,
        failed=sums["failed"] or zero,
        left=program.budget - program.committed,
    )


def household_payment_lines(household_id: int) -> list[PaymentLine]:
    """Every payment line of a household's applications, oldest first, with its round (for
    the household page of a caller that has read the household through its scope)."""
    return list(
        PaymentLine.objects.filter(household_id=household_id).select_related("round").order_by("pk")
    )


def payment_lines_of(application: Application) -> list[PaymentLine]:
    """The application's payment history, oldest first, each line with its round: for the
    pages of an application the caller has already read through its scope (the village's
    cadre sees why a payment failed too, though not the county's round pages)."""
    return list(
        PaymentLine.objects.filter(application=application).select_related("round").order_by("pk")
    )


# --- acceptance before payment (先建后补) ------------------------------------------------------


@dataclass(frozen=True)
class AcceptanceRow:
    """An approved application of a program that pays after the work is built, with its
    visits (oldest first), its place in a county sample, and the state they make."""

    application: Application
    visits: list[Acceptance]
    sampled: SampledAcceptance | None
    state: AcceptanceState


def acceptance_rows(
    user: Actor, *, states: set[str] | None = None, limit: int = 500
) -> list[AcceptanceRow]:
    """The approved applications awaiting or past their acceptance in the user's area (those
    in ``states`` only, when given), oldest first, at most ``limit``: three queries."""
    apps = list(
        applications_visible_to(user)
        .filter(status=Application.Status.APPROVED, program_version__acceptance_required=True)
        .select_related("household", "program", "program_version")
        .order_by("pk")[: limit if states is None else None]
    )
    visits: dict[int, list[Acceptance]] = {}
    for visit in (
        Acceptance.objects.filter(application__in=apps)
        .select_related("inspected_by", "rectification_allowed_by")
        .order_by("visit")
    ):
        visits.setdefault(visit.application_id, []).append(visit)
    sampled = {
        s.application_id: s
        for s in SampledAcceptance.objects.filter(application__in=apps).select_related("checked_by")
    }
    rows = []
    for app in apps:
        done = visits.get(app.pk, [])
        state = acceptance_state(done[-1] if done else None, sampled.get(app.pk))
        if states is None or state in states:
            rows.append(AcceptanceRow(app, done, sampled.get(app.pk), state))
    return rows[:limit]


def acceptance_row_of(application: Application) -> AcceptanceRow:
    """One application's acceptance (the caller has read it through its scope)."""
    visits = list(
        Acceptance.objects.filter(application=application)
        .select_related("inspected_by", "rectification_allowed_by")
        .order_by("visit")
    )
    sampled = (
        SampledAcceptance.objects.filter(application=application)
        .select_related("checked_by")
        .first()
    )
    return AcceptanceRow(
        application, visits, sampled, acceptance_state(visits[-1] if visits else None, sampled)
    )


def acceptance_samples_visible_to(user: Actor) -> QuerySet[AcceptanceSample]:
    return area_scoped(AcceptanceSample.objects.all(), user, "area_code")


def acceptance_sample_get(user: Actor, pk: int) -> AcceptanceSample | None:
    return (
        acceptance_samples_visible_to(user)
        .select_related("program", "drawn_by")
        .filter(pk=pk)
        .first()
    )


def sample_items_of(sample: AcceptanceSample) -> list[SampledAcceptance]:
    return list(
        sample.items.select_related("application__household", "checked_by").order_by(
            "application_id"
        )
    )


# --- the announcement after payment (事后公告) --------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """A paid line as the village notice board shows it: the payee's name masked, the
    program, the amount and when the bank paid it; never a card or an ID number."""

    name: str
    program_name: str
    amount: Decimal
    paid_at: datetime | None
    until: datetime


def _announced(now: datetime) -> QuerySet[PaymentLine]:
    return PaymentLine.objects.filter(
        status=PaymentLine.Status.PAID, round__announced_until__gt=now
    )


def payment_announcements(village_code: str, *, now: datetime) -> list[Announcement]:
    """The paid lines of the village's households in rounds announced now, newest first."""
    lines = (
        _announced(now)
        .filter(household__area_code=village_code)
        .select_related("round__program")
        .only(
            "payee_name",
            "paid_amount",
            "answered_at",
            "round__announced_until",
            "round__program__name",
        )
        .order_by("-answered_at", "reference")
    )
    return [
        Announcement(
            name=mask_name(line.payee_name),
            program_name=line.round.program.name,
            amount=line.paid_amount or Decimal("0"),
            paid_at=line.answered_at,
            until=line.round.announced_until or now,
        )
        for line in lines
    ]


def announcing_villages(*, now: datetime) -> dict[str, int]:
    """The villages with paid lines announced now, and how many each."""
    return dict(
        _announced(now)
        .order_by()
        .values_list("household__area_code")
        .annotate(n=Count("id"))
        .values_list("household__area_code", "n")
    )
