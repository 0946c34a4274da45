"""Reads of payment rounds, scoped like everything else: a round is visible to whoever sees
its area (the county's finance officers, approvers and inspectors)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from applications.models import Application, Program
from applications.selectors import area_scoped
from common.actors import Actor
from payments.models import PaymentLine, PaymentRound


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
            application_id__in=application_ids, status__in=PaymentLine.HOLDING
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
        failed=Sum("amount", filter=Q(status=PaymentLine.Status.FAILED)),
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


def payment_lines_of(application: Application) -> list[PaymentLine]:
    """The application's payment history, oldest first, each line with its round: for the
    pages of an application the caller has already read through its scope (the village's
    cadre sees why a payment failed too, though not the county's round pages)."""
    return list(
        PaymentLine.objects.filter(application=application).select_related("round").order_by("pk")
    )
