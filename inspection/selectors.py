"""What inspectors read that nobody else does: the red flags of their county (DOMAIN rules 4
and 5): bank cards shared by households, applications flagged for an official's close
relative, payments held for a card check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from applications.models import (
    Application,
    BankCardHolders,
    Household,
    KinFlag,
    ProgramVersion,
)
from applications.selectors import (
    applications_visible_to,
    bank_cards_shared,
    households_visible_to,
    kin_flags_visible_to,
)
from approvals.models import CardCheck
from approvals.selectors import applications_payment_held
from common.actors import Actor

# --- bank cards shared by households (DOMAIN rule 5), kin flags (rule 4) ----------------------


@dataclass(frozen=True)
class SharedCard:
    """A bank card registered to more than one household (a red flag): the households the
    inspector may see, and how many others hold it outside their area."""

    bank_card_masked: str
    households: tuple[Household, ...]
    elsewhere: int


MAX_RED_FLAGS = 200


def shared_cards_visible_to(user: Actor) -> list[SharedCard]:
    """The bank cards shared by households, for the households the user may see."""
    households = households_visible_to(user)
    totals = dict(bank_cards_shared(households.values("bank_card_hash"))[:MAX_RED_FLAGS])
    seen: dict[str, list[Household]] = {}
    for household in (
        households.filter(bank_card_hash__in=list(totals))
        .select_related("area")
        .order_by("area_code", "pk")
    ):
        seen.setdefault(household.bank_card_hash, []).append(household)
    return [
        SharedCard(
            bank_card_masked=found[0].bank_card_masked,
            households=tuple(found),
            elsewhere=totals.get(card_hash, len(found)) - len(found),
        )
        for card_hash, found in seen.items()
    ]


def kin_flags_for_inspection(user: Actor) -> QuerySet[KinFlag]:
    """The kin flags of the user's area, newest first, with what a list shows."""
    return (
        kin_flags_visible_to(user)
        .select_related("application", "application__household", "official", "declaration")
        .order_by("-detected_at", "-pk")
    )


# --- payments held for a card check (DOMAIN rule 5) --------------------------------------------


def payments_held_visible_to(user: Actor, *, now: datetime, limit: int) -> list[Application]:
    """The approved applications in the user's area whose payment waits for a card check,
    oldest first, at most ``limit``, with their households and programs. Found among all of
    them by the database, not among a first page of approved applications, in a few queries
    whatever their number.

    The queries ask what ``policy.payment_holds`` asks of one card (a card registered to
    more than one household, ``bank_cards_shared``, or changed less than the program's hold
    days ago) and leave out those with a valid card check (``card_check_valid``); what they
    find is then passed through ``applications_payment_held``, so the policy stays the one
    rule.

    One query for each reason, each starting from the few households it can hold (the
    shared cards' partial index, the index of the cards changed lately) and reading only
    their applications' numbers; the first ``limit`` of both are then read in full. One
    query over the approved applications with either reason read every one of them with
    its household: 2.4 s at a million applications."""
    approved = applications_visible_to(user).filter(status=Application.Status.APPROVED)
    reasons = [Q(household__bank_card_hash__in=BankCardHolders.shared().values("card_hash"))]
    # One condition per distinct hold of the programs' versions (a handful), so that the
    # date arithmetic stays on constants, alike on SQLite and PostgreSQL; the longest also
    # alone, for the index.
    holds = sorted(
        ProgramVersion.objects.order_by().values_list("card_change_hold_days", flat=True).distinct()
    )
    if holds:
        changed = Q()
        for days in holds:
            changed |= Q(
                program_version__card_change_hold_days=days,
                household__bank_card_changed_at__gt=now - timedelta(days=days),
            )
        reasons.append(
            Q(household__bank_card_changed_at__gt=now - timedelta(days=holds[-1])) & changed
        )
    checks = CardCheck.objects.filter(
        application_id=OuterRef("pk"), bank_card_hash=OuterRef("household__bank_card_hash")
    )
    checked = Q(household__bank_card_changed_at__isnull=True, has_check=True) | Q(
        has_check_since_change=True
    )
    ids: set[int] = set()
    for reason in reasons:
        ids.update(
            approved.filter(reason)
            .annotate(
                has_check=Exists(checks),
                has_check_since_change=Exists(
                    checks.filter(checked_at__gte=OuterRef("household__bank_card_changed_at"))
                ),
            )
            .exclude(checked)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
    rows = list(
        approved.filter(pk__in=sorted(ids)[:limit])
        .select_related("household", "program")
        .order_by("pk")
    )
    confirmed = applications_payment_held(rows, now=now)
    return [a for a in rows if a.pk in confirmed]
