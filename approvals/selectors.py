"""Reads of the approvals records, scoped through ``applications_visible_to``; the
inspectors' reads of the audit trail; and the public notice board's reads (no user: only
what a notice may show)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Value

from applications import idnumbers
from applications.models import (
    Application,
    ApplicationItem,
    Area,
    Household,
    KinFlag,
    Person,
    Program,
    ProgramVersion,
)
from applications.roles import Role
from applications.selectors import (
    applications_visible_to,
    bank_cards_shared,
    household_hashes,
    households_visible_to,
    households_with_hashes,
    is_everywhere,
    recusing_declarations,
    recusing_hashes,
    scope_prefixes,
)
from approvals import policy
from approvals.labels import ACTION_LABELS, TASK_STATE_LABELS, action_label, actor_label
from approvals.models import Attachment, CardCheck, Objection
from audit.models import AuditEntry
from audit.selectors import audit_history_of
from common.actors import Actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def attachments_visible_to(user: Actor) -> QuerySet[Attachment]:
    """Attachments of the applications the user may see."""
    return Attachment.objects.filter(application__in=applications_visible_to(user))


def objections_visible_to(user: Actor) -> QuerySet[Objection]:
    """Objections to the applications the user may see."""
    return Objection.objects.filter(application__in=applications_visible_to(user))


def has_signed_agreement(application_id: int) -> bool:
    """Is the household's signed agreement on the application's record? (Payment waits
    for it.)"""
    return application_id in signed_agreements_of([application_id])


def has_loan_contract(application_id: int) -> bool:
    """Is the signed loan contract on the application's record? (The drawdown waits for
    it.)"""
    return Attachment.objects.filter(
        application_id=application_id, kind=Attachment.Kind.LOAN_CONTRACT
    ).exists()


# --- conflict of interest (DOMAIN rule 4) ----------------------------------------------------


def recused_from(
    user: Actor, *, household_id: int, declared_hashes: frozenset[str] | None = None
) -> bool:
    """``policy.is_recused`` for the user and a household, or a flag once raised for the
    user on one of its applications: a declaration corrected (superseded) or a member
    removed afterwards does not end a recusal the flag recorded. One query for the user's
    declarations unless given, one for the flags, one more only when there are
    declarations."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if declared_hashes is None:
        declared, flagged = _declared_and_flagged(user, household_id)
    else:
        declared, flagged = declared_hashes, None
    if declared and policy.is_recused(
        user, household_hashes=household_hashes(household_id), declared_hashes=declared
    ):
        return True
    if flagged is None:
        flagged = bool(kin_flagged_households(user, {household_id}))
    return flagged


def _declared_and_flagged(user: Actor, household_id: int) -> tuple[frozenset[str], bool]:
    """``recusing_hashes`` of the user, and whether a flag was raised for the user on one of
    the household's applications, in one query (a step asks both of every official)."""
    declarations = recusing_declarations(user).order_by().values_list("id_hash", Value(False))
    flags = (
        KinFlag.objects.filter(
            official_id=getattr(user, "pk", None), application__household_id=household_id
        )
        .order_by()
        .values_list(Value(""), Value(True))
    )
    rows = list(declarations.union(flags, all=True))
    return frozenset(h for h, flag in rows if not flag), any(flag for _h, flag in rows)


def kin_flagged_households(user: Actor, household_ids: Collection[int]) -> set[int]:
    """Of these households, those with an application flagged for the user (a recusal
    recorded, which stays whatever changes later)."""
    if not household_ids:
        return set()
    return set(
        KinFlag.objects.filter(
            official_id=getattr(user, "pk", None), application__household_id__in=household_ids
        ).values_list("application__household_id", flat=True)
    )


def applications_recused(user: Actor, applications: Sequence[Application]) -> set[int]:
    """Which of these applications (a page of a list) the user is recused from."""
    if not applications or user is None or not getattr(user, "is_authenticated", False):
        return set()
    ids = {a.household_id for a in applications}
    declared = recusing_hashes(user)
    households = households_with_hashes(ids, declared) if declared else set()
    households |= kin_flagged_households(user, ids - set(households))
    return {a.pk for a in applications if a.household_id in households}


def _kin_flagged() -> Exists:
    """Does the application (the outer row) carry a kin flag (备案)?"""
    return Exists(KinFlag.objects.filter(application=OuterRef("pk")))


class KinFlagged(TypedDict):
    """The annotation ``applications_with_kin_flag`` adds."""

    kin_flagged: bool


def applications_with_kin_flag(
    applications: QuerySet[Application],
) -> QuerySet[WithAnnotations[Application, KinFlagged]]:
    """The applications, each annotated ``kin_flagged``: does it carry a kin flag (备案)?
    For a list read in one query; ``applications_kin_flagged`` for a page already read."""
    return applications.annotate(kin_flagged=_kin_flagged())


def applications_kin_flagged(application_ids: Iterable[int]) -> set[int]:
    """Which of these applications carry a kin flag (备案)."""
    return set(
        Application.objects.filter(_kin_flagged(), pk__in=list(application_ids)).values_list(
            "pk", flat=True
        )
    )


def kin_flags_of(application: Application) -> list[KinFlag]:
    """The application's kin flags with their officials and declarations, oldest first."""
    return list(
        KinFlag.objects.filter(application=application)
        .select_related("official", "declaration")
        .order_by("detected_at", "pk")
    )


# --- payment to the head's bank card (DOMAIN rule 5) --------------------------------------


def card_check_valid(application: Application) -> CardCheck | None:
    """The newest card check of the application that still holds: for the card on record,
    recorded after the household's last change of card."""
    household = application.household
    checks = CardCheck.objects.filter(
        application_id=application.pk, bank_card_hash=household.bank_card_hash
    )
    if household.bank_card_changed_at is not None:
        checks = checks.filter(checked_at__gte=household.bank_card_changed_at)
    return checks.select_related("checked_by").order_by("-checked_at", "-pk").first()


def card_facts(application: Application) -> policy.CardFacts:
    """The facts of the card an application is paid to (``policy.CardFacts``), read fresh
    from the database."""
    return card_facts_of([application])[application.pk]


def card_facts_of(applications: Sequence[Application]) -> dict[int, policy.CardFacts]:
    """``card_facts`` for many applications at once (a page of a list): four queries,
    whatever their number. The households' card columns are read here, so a list that
    loaded only the columns it shows still gets them."""
    if not applications:
        return {}
    households = {
        row["pk"]: row
        for row in Household.objects.filter(pk__in={a.household_id for a in applications}).values(
            "pk", "head_name", "bank_card_holder", "bank_card_hash", "bank_card_changed_at"
        )
    }
    shared = dict(bank_cards_shared({h["bank_card_hash"] for h in households.values()}))
    hold_days = dict(
        ProgramVersion.objects.filter(
            pk__in={a.program_version_id for a in applications}
        ).values_list("pk", "card_change_hold_days")
    )
    # The newest check of each application that still holds (as ``card_check_valid``).
    household_of = {a.pk: a.household_id for a in applications}
    checked_by: dict[int, int] = {}
    for app_id, card_hash, at, by_id in (
        CardCheck.objects.filter(application_id__in=[a.pk for a in applications])
        .order_by("checked_at", "pk")
        .values_list("application_id", "bank_card_hash", "checked_at", "checked_by_id")
    ):
        household = households[household_of[app_id]]
        changed = household["bank_card_changed_at"]
        if card_hash == household["bank_card_hash"] and (changed is None or at >= changed):
            checked_by[app_id] = by_id
    facts: dict[int, policy.CardFacts] = {}
    for app in applications:
        household = households[app.household_id]
        facts[app.pk] = policy.CardFacts(
            holder_is_head=idnumbers.card_holder_matches(
                household["bank_card_holder"], household["head_name"]
            ),
            shared=household["bank_card_hash"] in shared,
            changed_at=household["bank_card_changed_at"],
            hold_days=hold_days.get(app.program_version_id, 0),
            checked_by_id=checked_by.get(app.pk),
        )
    return facts


def signed_agreements_of(application_ids: Iterable[int]) -> set[int]:
    """Which of these applications have the signed agreement on record (one query)."""
    return set(
        Attachment.objects.filter(
            application_id__in=list(application_ids), kind=Attachment.Kind.SIGNED_AGREEMENT
        ).values_list("application_id", flat=True)
    )


def applications_payment_held(applications: Sequence[Application], *, now: datetime) -> set[int]:
    """Which of these applications (a page of a list; the approved ones count) wait for a
    card check before payment. Four queries, whatever the number."""
    approved = [a for a in applications if a.status == Application.Status.APPROVED]
    return {
        pk
        for pk, card in card_facts_of(approved).items()
        if card.checked_by_id is None and policy.payment_holds(card, now=now)
    }


# --- the audit trail, for inspectors -------------------------------------------------------


def audit_visible_to(user: Actor) -> QuerySet[AuditEntry]:
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


def audit_chains_visible_to(user: Actor) -> list[str] | None:
    """The ledger chains (one per county) the user may verify; ``None`` for all of them."""
    if is_everywhere(user):
        return None
    return sorted({p[:6] for p in scope_prefixes(user, roles=[Role.INSPECTOR]) if len(p) >= 6})


MAX_HOUSEHOLDS_PER_NAME = 50  # a common name: enough for a search, not the whole registry


def audit_search(
    user: Actor,
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
        # A code (application.disburse), or words of its label in the user's language
        # (拨付): every action whose label holds them.
        named = [code for code, label in ACTION_LABELS.items() if action in str(label)]
        qs = qs.filter(action__in=[action, *named])
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
    # The program's kind: an exit (脱贫销号) shows the per-capita income it rests on; a return
    # to poverty shows no cause (it may be a health detail: DOMAIN rule 6).
    kind: str = Program.Kind.SUBSIDY
    income_per_capita: Decimal | None = None
    # An objection to it is still open: once its window has ended it stays posted until the
    # objection is decided (what the board then says instead of "closes shortly").
    objected: bool = False


def notice_villages(
    *, query: str = "", limit: int = 500, also: Collection[str] = ()
) -> list[tuple[Area, int]]:
    """Villages for the notice board's index, each with the number of its applications in
    posting now. Without a query, only the villages with something posted, or in ``also``
    (villages with something else on their board)."""
    villages = Area.objects.filter(level=Area.Level.VILLAGE).select_related("parent")
    posted = Application.objects.filter(status=Application.Status.POSTED)
    if query:
        villages = villages.filter(Q(name__contains=query) | Q(code__startswith=query))
    else:
        codes = posted.order_by().values_list("area_code", flat=True).distinct()
        villages = villages.filter(Q(code__in=codes) | Q(code__in=list(also)))
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
    """The applications of the village in posting now, soonest-ending first, each with its
    items in the order they were filed. Plain values, two queries: a board of a few dozen
    postings is read by anyone, often. Each says whether an objection to it is still open
    (a third query)."""
    rows = list(
        Application.objects.filter(area_code=village_code, status=Application.Status.POSTED)
        .order_by("posting_ends_at", "id")
        .values_list(
            "id",
            "household__head_name",
            "program__name",
            "amount",
            "posting_started_at",
            "posting_ends_at",
            "program__kind",
            "status_change__income_per_capita",
        )
    )
    items: dict[int, list[NoticeItem]] = {}
    for application_id, name, unit, quantity, amount in (
        ApplicationItem.objects.filter(application_id__in=[row[0] for row in rows])
        .order_by("application_id", "id")
        .values_list("application_id", "item__name", "item__unit", "quantity", "amount")
    ):
        items.setdefault(application_id, []).append(NoticeItem(name, unit, quantity, amount))
    objected = set(
        Objection.objects.filter(
            application_id__in=[row[0] for row in rows], status=Objection.Status.OPEN
        ).values_list("application_id", flat=True)
    )
    return [
        Notice(
            application_id=pk,
            head_name=head_name,
            program_name=program_name,
            amount=amount,
            items=tuple(items.get(pk, ())),
            posting_started_at=started,
            posting_ends_at=ends,
            kind=kind,
            income_per_capita=income,
            objected=pk in objected,
        )
        for pk, head_name, program_name, amount, started, ends, kind, income in rows
    ]


def notice_application_exists(*, village_code: str, application_id: int) -> bool:
    """Is there such an application in the village (posted or not: the service decides)?"""
    return Application.objects.filter(pk=application_id, area_code=village_code).exists()


# --- an application's history, as its pages show it -------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    actor: str
    action: str
    from_state: str
    to_state: str
    reason: str


def application_timeline(app: Application) -> list[TimelineEntry]:
    """The application's history from the audit trail, oldest first: what was done to it.
    Views of the page are left out, and so are refused attempts (a double tap, a step
    someone else took first): they stay on the record, in the inspectors' audit search."""
    labels: dict[str, str] = {str(v): str(label) for v, label in Application.Status.choices} | {
        code: str(label) for code, label in TASK_STATE_LABELS.items()
    }
    entries = audit_history_of(object_type="application", object_id=app.pk)
    return [
        TimelineEntry(
            at=e.created_at,
            actor=actor_label(e.actor_name),
            action=action_label(e.action),
            from_state=str(labels.get(e.from_state, e.from_state)),
            to_state=str(labels.get(e.to_state, e.to_state)),
            reason=e.reason,
        )
        for e in entries
        if e.outcome != AuditEntry.Outcome.REFUSED
    ]
