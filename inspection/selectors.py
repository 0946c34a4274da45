"""What inspectors read that nobody else does: the red flags of their county (DOMAIN rules 4
and 5): bank cards shared by households, applications flagged for an official's close
relative, payments held for a card check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from applications.models import Application, Household, KinFlag, ProgramVersion
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
    them by the database, not among a first page of approved applications: six queries,
    whatever their number.

    The query asks what ``policy.payment_holds`` asks of one card (a card registered to
    more than one household, ``bank_cards_shared``, or changed less than the program's hold
    days ago) and leaves out those with a valid card check (``card_check_valid``); what it
    finds is then passed through ``applications_payment_held``, so the policy stays the one
    rule."""
    approved = applications_visible_to(user).filter(status=Application.Status.APPROVED)
    shared = bank_cards_shared(approved.values("household__bank_card_hash"))
    held = Q(household__bank_card_hash__in=shared.values_list("bank_card_hash", flat=True))
    # One condition per distinct hold of the programs' versions (a handful), so that the
    # date arithmetic stays on constants, alike on SQLite and PostgreSQL.
    for days in (
        ProgramVersion.objects.filter(pk__in=approved.values("program_version_id"))
        .order_by()
        .values_list("card_change_hold_days", flat=True)
        .distinct()
    ):
        held |= Q(
            program_version__card_change_hold_days=days,
            household__bank_card_changed_at__gt=now - timedelta(days=days),
        )
    checks = CardCheck.objects.filter(
        application_id=OuterRef("pk"), bank_card_hash=OuterRef("household__bank_card_hash")
    )
    checked = Q(household__bank_card_changed_at__isnull=True, has_check=True) | Q(
        has_check_since_change=True
    )
    rows = list(
        approved.filter(held)
        .annotate(
            has_check=Exists(checks),
            has_check_since_change=Exists(
                checks.filter(checked_at__gte=OuterRef("household__bank_card_changed_at"))
            ),
        )
        .exclude(checked)
        .select_related("household", "program")
        .order_by("pk")[:limit]
    )
    confirmed = applications_payment_held(rows, now=now)
    return [a for a in rows if a.pk in confirmed]
