"""Reads of the approvals records, scoped through ``applications_visible_to``; the
inspectors' reads of the audit trail; and the public notice board's reads (no user: only
what a notice may show)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from applications.models import Application, ApplicationItem, Area, Person
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    households_visible_to,
    is_everywhere,
    scope_prefixes,
)
from approvals.models import Attachment
from audit.models import AuditEntry


def attachments_visible_to(user: Any) -> QuerySet[Attachment]:
    """Attachments of the applications the user may see."""
    return Attachment.objects.filter(application__in=applications_visible_to(user))


def has_signed_agreement(application_id: int) -> bool:
    """Is the household's signed agreement on the application's record? (Payment waits
    for it.)"""
    return Attachment.objects.filter(
        application_id=application_id, kind=Attachment.Kind.SIGNED_AGREEMENT
    ).exists()


# --- the audit trail, for inspectors -------------------------------------------------------


def audit_visible_to(user: Any) -> QuerySet[AuditEntry]:
    """Inspectors read the audit trail of their county (admins everywhere)."""
    if is_everywhere(user):
        return AuditEntry.objects.all()
    prefixes = scope_prefixes(user, roles=[Role.INSPECTOR])
    if not prefixes:
        return AuditEntry.objects.none()
    cond = Q()
    for prefix in prefixes:
        cond |= Q(area_code__startswith=prefix)
    return AuditEntry.objects.filter(cond)


def audit_chains_visible_to(user: Any) -> list[str] | None:
    """The ledger chains (one per county) the user may verify; ``None`` for all of them."""
    if is_everywhere(user):
        return None
    return sorted({p[:6] for p in scope_prefixes(user, roles=[Role.INSPECTOR]) if len(p) >= 6})


MAX_HOUSEHOLDS_PER_NAME = 50  # a common name: enough for a search, not the whole registry


def audit_search(
    user: Any,
    *,
    application_id: int | None = None,
    household_id: int | None = None,
    head_name: str = "",
    actor_name: str = "",
    action: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The user's audit entries matching every given filter (unordered). A household (by id
    or by its head's name) matches its own entries, its members' and its applications'."""
    qs = audit_visible_to(user)
    if application_id is not None:
        qs = qs.filter(object_type="application", object_id=str(application_id))
    if household_id is not None or head_name:
        households = households_visible_to(user)
        if household_id is not None:
            households = households.filter(pk=household_id)
        if head_name:
            households = households.filter(head_name=head_name)
        ids = list(households.order_by("pk").values_list("pk", flat=True)[:MAX_HOUSEHOLDS_PER_NAME])
        apps = Application.objects.filter(household_id__in=ids).values_list("pk", flat=True)
        persons = Person.objects.filter(household_id__in=ids).values_list("pk", flat=True)
        qs = qs.filter(
            Q(object_type="household", object_id__in=[str(i) for i in ids])
            | Q(object_type="person", object_id__in=[str(i) for i in persons])
            | Q(object_type="application", object_id__in=[str(i) for i in apps])
        )
    if actor_name:
        qs = qs.filter(actor_name=actor_name)
    if action:
        qs = qs.filter(action=action)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


# --- the public notice board (no sign-in) --------------------------------------------------


@dataclass(frozen=True)
class NoticeItem:
    name: str
    unit: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class Notice:
    """What a public notice shows of a posted application, and nothing more: never an ID
    number, a phone number or a bank card, not even masked (DOMAIN rule 6)."""

    application_id: int
    head_name: str
    program_name: str
    amount: Decimal
    items: tuple[NoticeItem, ...]
    posting_started_at: datetime | None
    posting_ends_at: datetime | None


def notice_villages(*, query: str = "", limit: int = 500) -> list[tuple[Area, int]]:
    """Villages for the notice board's index, each with the number of its applications in
    posting now. Without a query, only the villages with something posted."""
    villages = Area.objects.filter(level=Area.Level.VILLAGE).select_related("parent")
    posted = Application.objects.filter(status=Application.Status.POSTED)
    if query:
        villages = villages.filter(Q(name__contains=query) | Q(code__startswith=query))
    else:
        codes = posted.order_by().values_list("area_code", flat=True).distinct()
        villages = villages.filter(code__in=codes)
    found = list(villages.order_by("code")[:limit])
    counts = dict(
        posted.filter(area_code__in=[v.code for v in found])
        .order_by()
        .values_list("area_code")
        .annotate(n=Count("id"))
        .values_list("area_code", "n")
    )
    return [(v, counts.get(v.code, 0)) for v in found]


def notice_village_get(code: str) -> Area:
    """The village of a notice page; ``Area.DoesNotExist`` for anything else."""
    return Area.objects.select_related("parent").get(code=code, level=Area.Level.VILLAGE)


def notices_posted(village_code: str) -> list[Notice]:
    """The applications of the village in posting now, soonest-ending first."""
    rows = (
        Application.objects.filter(area_code=village_code, status=Application.Status.POSTED)
        .select_related("program", "household")
        .only(
            "id",
            "amount",
            "posting_started_at",
            "posting_ends_at",
            "program__name",
            "household__head_name",
        )
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ApplicationItem.objects.select_related("item").only(
                    "application_id", "quantity", "amount", "item__name", "item__unit"
                ),
            )
        )
        .order_by("posting_ends_at", "id")
    )
    return [
        Notice(
            application_id=a.pk,
            head_name=a.household.head_name,
            program_name=a.program.name,
            amount=a.amount,
            items=tuple(
                NoticeItem(i.item.name, i.item.unit, i.quantity, i.amount) for i in a.items.all()
            ),
            posting_started_at=a.posting_started_at,
            posting_ends_at=a.posting_ends_at,
        )
        for a in rows
    ]


def notice_application_exists(*, village_code: str, application_id: int) -> bool:
    """Is there such an application in the village (posted or not: the service decides)?"""
    return Application.objects.filter(pk=application_id, area_code=village_code).exists()
