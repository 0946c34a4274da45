"""The rules a scan runs (大数据比对): each has a stable code, a severity and parameters with
defaults, and finds what it finds in one county, as ``Finding``s. A finding's ``key`` names
what it is about (a person in a household, an application, a payment line), so that a later
scan finding the same thing finds the same lead; its ``facts`` are the evidence, and a
change in them (the list's own date and hash aside) is a change of evidence.

Every rule reads the database a few times, whatever the county's size: the matches against
a list are a join on the keyed hash of the ID number, done by the database."""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from applications.idnumbers import lookup_hash, mask_name, mask_phone
from applications.models import (
    Application,
    ApplicationItem,
    Area,
    Household,
    KinDeclaration,
    Person,
)
from applications.selectors import bank_cards_shared
from approvals.models import CardCheck, Decision, Objection
from audit.models import AuditEntry
from crosscheck.models import Lead, ReferenceList, ReferenceRow
from payments.models import PaymentLine

Severity = Lead.Severity
Kind = ReferenceList.Kind
# The statuses at which a household holds a benefit (approved, paid, lent).
BENEFIT_HELD = (
    Application.Status.APPROVED,
    Application.Status.BANK_APPROVED,
    Application.Status.DISBURSED,
)
PAID = (PaymentLine.Status.PAID, PaymentLine.Status.DISCREPANCY)


@dataclass(frozen=True)
class Finding:
    key: str
    household_id: int | None
    application_id: int | None
    area_code: str
    person_masked: str
    facts: dict[str, Any]


@dataclass
class Context:
    """What a scan of one county reads: the county, the lists in force (by kind), the
    parameters of every rule, and the lists' descriptions for the evidence."""

    county: str
    lists: Mapping[str, ReferenceList]
    params: Mapping[str, Mapping[str, Any]]

    def households(self) -> QuerySet[Household]:
        return Household.objects.filter(area_code__startswith=self.county)

    def persons(self) -> QuerySet[Person]:
        return Person.objects.filter(household__area_code__startswith=self.county)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    defaults: Mapping[str, Any]
    find: Callable[[Context], Iterable[Finding]]
    # The list the rule needs, if any: without one, it finds nothing.
    needs: str | None = None


CHUNK = 5000  # ids per query: well under the databases' limits on parameters


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def list_facts(reference: ReferenceList) -> dict[str, Any]:
    return {
        "id": reference.pk,
        "kind": reference.kind,
        "source": reference.source,
        "as_of": reference.as_of.isoformat(),
        "sha256": reference.sha256,
    }


def _day(value: datetime.datetime | datetime.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value).isoformat()
    return value.isoformat()


def _local_date(value: datetime.datetime) -> datetime.date:
    return timezone.localdate(value)


# --- matches against a list ------------------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    person_id: int
    id_hash: str
    name: str
    relation: str
    id_masked: str
    household_id: int
    area_code: str
    rows: tuple[dict[str, Any], ...]


def _matches(ctx: Context, kind: str, rows_filter: Q | None = None) -> list[_Match]:
    """The county's persons on the list in force of ``kind`` (with the rows that match them,
    filtered), in a stable order."""
    reference = ctx.lists.get(kind)
    if reference is None:
        return []
    rows = ReferenceRow.objects.filter(list=reference)
    if rows_filter is not None:
        rows = rows.filter(rows_filter)
    rows = rows.filter(id_hash__in=ctx.persons().values("id_hash"))
    by_hash: dict[str, list[Any]] = defaultdict(list)
    for row in rows.order_by("row").values(
        "row", "id_hash", "name", "detail", "category", "value", "date"
    ):
        by_hash[row["id_hash"]].append(row)
    if not by_hash:
        return []
    persons = (
        ctx.persons()
        .filter(id_hash__in=rows.values("id_hash"))
        .values_list(
            "pk", "id_hash", "name", "relation", "id_masked", "household_id", "household__area_code"
        )
        .order_by("household__area_code", "household_id", "pk")
    )
    return [
        _Match(pk, h, name, relation, masked, household, area, tuple(by_hash[h]))
        for pk, h, name, relation, masked, household, area in persons
        if h in by_hash
    ]


def _row_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"row": row["row"], "name": row["name"]}
    if row["detail"]:
        out["detail"] = row["detail"]
    if row["category"]:
        out["category"] = row["category"]
    if row["value"] is not None:
        out["value"] = str(row["value"])
    if row["date"] is not None:
        out["date"] = row["date"].isoformat()
    return out


def _person_finding(ctx: Context, code: str, kind: str, match: _Match) -> Finding:
    return Finding(
        key=f"{code}:h{match.household_id}:p{match.id_hash[:24]}",
        household_id=match.household_id,
        application_id=None,
        area_code=match.area_code,
        person_masked=f"{mask_name(match.name)} {match.id_masked}",
        facts={
            "list": list_facts(ctx.lists[kind]),
            "person": match.name,
            "relation": match.relation,
            "rows": [_row_facts(r) for r in match.rows],
        },
    )


def _public_servant(ctx: Context) -> Iterable[Finding]:
    for match in _matches(ctx, Kind.PUBLIC_SERVANT):
        yield _person_finding(ctx, "public_servant", Kind.PUBLIC_SERVANT, match)


def _vehicle(ctx: Context) -> Iterable[Finding]:
    least = Decimal(str(ctx.params["vehicle"]["vehicle_value_min"]))
    for match in _matches(ctx, Kind.VEHICLE, Q(value__gte=least)):
        finding = _person_finding(ctx, "vehicle", Kind.VEHICLE, match)
        finding.facts["threshold"] = str(least)
        yield finding


def _property(ctx: Context) -> Iterable[Finding]:
    types = list(ctx.params["property"]["property_types"])
    for match in _matches(ctx, Kind.PROPERTY, Q(category__in=types)):
        yield _person_finding(ctx, "property", Kind.PROPERTY, match)


def _business(ctx: Context) -> Iterable[Finding]:
    # A registry writes a status with its synonyms too: 存续（在营、开业、在册）.
    active = Q()
    for status in ctx.params["business"]["active_statuses"]:
        active |= Q(category__startswith=status)
    for match in _matches(ctx, Kind.BUSINESS, active):
        yield _person_finding(ctx, "business", Kind.BUSINESS, match)


# --- deaths and moves against the household's benefits ----------------------------------------


def _benefits(household_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each household's applications (not withdrawn or drafts), with the day it applied
    and the days its payments went out."""
    apps: list[Any] = []
    paid: dict[int, list[datetime.date]] = defaultdict(list)
    for ids in _chunks(household_ids):
        apps += list(
            Application.objects.filter(household_id__in=ids)
            .exclude(status__in=[Application.Status.DRAFT, Application.Status.WITHDRAWN])
            .values("pk", "household_id", "created_at", "program__name", "status")
            .order_by("pk")
        )
        for application_id, sent in (
            PaymentLine.objects.filter(household_id__in=ids, status__in=PAID)
            .values_list("application_id", "round__sent_at")
            .order_by("round__sent_at", "pk")
        ):
            if sent is not None:
                paid[application_id].append(_local_date(sent))
    apps.sort(key=lambda a: a["pk"])
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for app in apps:
        out[app["household_id"]].append(
            {
                "id": app["pk"],
                "program": app["program__name"],
                "applied": _local_date(app["created_at"]),
                "paid": paid.get(app["pk"], []),
            }
        )
    return out


def _dated_finding(
    ctx: Context, code: str, kind: str, match: _Match, app: dict[str, Any], when: datetime.date
) -> Finding:
    finding = _person_finding(ctx, code, kind, match)
    return Finding(
        key=f"{code}:a{app['id']}:p{match.id_hash[:24]}",
        household_id=match.household_id,
        application_id=app["id"],
        area_code=match.area_code,
        person_masked=finding.person_masked,
        facts=finding.facts
        | {
            "date": when.isoformat(),
            "application": app["id"],
            "program": app["program"],
            "applied": app["applied"].isoformat(),
        },
    )


def _deceased(ctx: Context) -> Iterable[Finding]:
    matches = _matches(ctx, Kind.DECEASED, Q(date__isnull=False))
    benefits = _benefits(m.household_id for m in matches)
    for match in matches:
        died = min(r["date"] for r in match.rows)
        for app in benefits.get(match.household_id, []):
            applied_after = app["applied"] > died
            # The head's death ends the household's claim to be paid; a member's counts
            # when the household applied with them (their share of the benefit).
            paid_after = [d for d in app["paid"] if d > died]
            head = match.relation == Person.Relation.HEAD
            if applied_after or (head and paid_after):
                finding = _dated_finding(ctx, "deceased", Kind.DECEASED, match, app, died)
                finding.facts["applied_after"] = applied_after
                finding.facts["paid_after"] = [d.isoformat() for d in paid_after] if head else []
                yield finding


def _moved_out(ctx: Context) -> Iterable[Finding]:
    matches = _matches(ctx, Kind.MOVED_OUT, Q(date__isnull=False))
    benefits = _benefits(m.household_id for m in matches)
    for match in matches:
        moved = min(r["date"] for r in match.rows)
        for app in benefits.get(match.household_id, []):
            if moved < app["applied"]:
                yield _dated_finding(ctx, "moved_out", Kind.MOVED_OUT, match, app, moved)


# --- the record itself ------------------------------------------------------------------------


def _others(
    households: Sequence[Household], this: Household, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "id": h.pk,
            "head": mask_name(h.head_name),
            "area": h.area_code,
            "village": names.get(h.area_code, h.area_code),
        }
        for h in households
        if h.pk != this.pk
    ]


def _village_names(groups: Mapping[str, list[Household]]) -> dict[str, str]:
    codes = {h.area_code for found in groups.values() for h in found}
    return dict(Area.objects.filter(code__in=codes).values_list("code", "name"))


def _shared_card(ctx: Context) -> Iterable[Finding]:
    county = ctx.households()
    shared = bank_cards_shared(county.values("bank_card_hash"))
    totals = dict(shared)
    if not totals:
        return
    groups: dict[str, list[Household]] = defaultdict(list)
    for household in county.filter(
        bank_card_hash__in=shared.values_list("card_hash", flat=True)
    ).order_by("pk"):
        groups[household.bank_card_hash].append(household)
    names = _village_names(groups)
    for card_hash, households in sorted(groups.items(), key=lambda kv: kv[1][0].pk):
        elsewhere = totals[card_hash] - len(households)
        for household in households:
            yield Finding(
                key=f"shared_card:h{household.pk}:c{card_hash[:24]}",
                household_id=household.pk,
                application_id=None,
                area_code=household.area_code,
                person_masked=mask_name(household.head_name),
                facts={
                    "card": household.bank_card_masked,
                    "households": totals[card_hash],
                    "others": _others(households, household, names),
                    "elsewhere": elsewhere,
                },
            )


def _shared_phone(ctx: Context) -> Iterable[Finding]:
    least = int(ctx.params["shared_phone"]["shared_phone_min"])
    county = ctx.households().exclude(phone="")
    phones = (
        county.order_by()
        .values("phone")
        .annotate(n=Count("pk"))
        .filter(n__gte=least)
        .values("phone")
    )
    groups: dict[str, list[Household]] = defaultdict(list)
    for household in county.filter(phone__in=phones).order_by("pk"):
        groups[household.phone].append(household)
    names = _village_names(groups)
    for phone, households in sorted(groups.items(), key=lambda kv: kv[1][0].pk):
        for household in households:
            yield Finding(
                # The phone only as its keyed hash: the key goes on the record.
                key=f"shared_phone:h{household.pk}:{lookup_hash(phone)[:24]}",
                household_id=household.pk,
                application_id=None,
                area_code=household.area_code,
                person_masked=mask_name(household.head_name),
                facts={
                    "phone": mask_phone(phone),
                    "households": len(households),
                    "threshold": least,
                    "others": _others(households, household, names),
                },
            )


def _kin_handled(ctx: Context) -> Iterable[Finding]:
    """An official's steps on an application of a household holding a close relative they
    declared, whenever they declared it (a declaration made after the step counts too)."""
    declarations = (
        KinDeclaration.objects.filter(
            superseded_at__isnull=True,
            relation__in=KinDeclaration.RECUSING,
            id_hash__in=ctx.persons().values("id_hash"),
        )
        .values_list(
            "official_id", "official__username", "id_hash", "relation", "name", "created_at"
        )
        .order_by("pk")
    )
    relatives: dict[str, list[tuple[int, str, str, str, datetime.datetime]]] = defaultdict(list)
    for official, username, id_hash, relation, name, declared_on in declarations:
        relatives[id_hash].append((official, username, relation, name, declared_on))
    if not relatives:
        return
    # household → [(official, username, relation, relative's name, declared at)]
    kin: dict[int, list[tuple[int, str, str, str, datetime.datetime]]] = defaultdict(list)
    areas: dict[int, str] = {}
    for household, area, id_hash in (
        ctx.persons()
        .filter(id_hash__in=list(relatives))
        .values_list("household_id", "household__area_code", "id_hash")
        .order_by("pk")
    ):
        kin[household].extend(relatives[id_hash])
        areas[household] = area
    officials = sorted({k[0] for found in kin.values() for k in found})
    steps: dict[tuple[int, int], set[tuple[str, datetime.datetime]]] = defaultdict(set)
    app_household: dict[int, int] = {}

    def add(rows: Iterable[tuple[int, int, int | None, str, datetime.datetime | None]]) -> None:
        for app, household, actor, what, when in rows:
            if actor is not None and when is not None:
                steps[(app, actor)].add((what, when))
                app_household[app] = household

    for households in _chunks(kin):
        in_scope = {"application__household_id__in": households}
        add(
            Decision.objects.filter(actor_id__in=officials, **in_scope).values_list(
                "application_id",
                "application__household_id",
                "actor_id",
                "transition",
                "decided_at",
            )
        )
        add(
            (a, h, u, "objection." + s, t)
            for a, h, u, s, t in Objection.objects.filter(
                resolved_by_id__in=officials, **in_scope
            ).values_list(
                "application_id",
                "application__household_id",
                "resolved_by_id",
                "status",
                "resolved_at",
            )
        )
        add(
            (a, h, u, "card_check", t)
            for a, h, u, t in CardCheck.objects.filter(
                checked_by_id__in=officials, **in_scope
            ).values_list(
                "application_id", "application__household_id", "checked_by_id", "checked_at"
            )
        )
        lines = PaymentLine.objects.filter(household_id__in=households)
        add(
            (a, h, u, "round.approve", t)
            for a, h, u, t in lines.filter(round__approved_by_id__in=officials).values_list(
                "application_id", "household_id", "round__approved_by_id", "round__approved_at"
            )
        )
        add(
            (a, h, u, "round.draw_up", t)
            for a, h, u, t in lines.filter(round__made_by_id__in=officials).values_list(
                "application_id", "household_id", "round__made_by_id", "round__created_at"
            )
        )
    for app, official in sorted(steps):
        household = app_household[app]
        declared = sorted(
            (k for k in kin[household] if k[0] == official), key=lambda k: (k[4], k[2], k[3])
        )
        if not declared:
            continue
        taken = sorted(steps[(app, official)], key=lambda s: (s[1], s[0]))
        first = declared[0]
        yield Finding(
            key=f"kin_handled:a{app}:u{official}",
            household_id=household,
            application_id=app,
            area_code=areas[household],
            person_masked="、".join(mask_name(k[3]) for k in declared),
            facts={
                "official": first[1],
                "relation": first[2],
                "relative": first[3],
                "declared": _day(first[4]),
                "relatives": [
                    {"relation": k[2], "name": k[3], "declared": _day(k[4])} for k in declared
                ],
                "steps": [{"step": what, "date": _day(when)} for what, when in taken],
            },
        )


def _card_changes(county: str) -> dict[int, list[tuple[datetime.datetime, str]]]:
    """Each household's bank card changes from the audit trail: (when, the new card's hash
    prefix as recorded), oldest first."""
    out: dict[int, list[tuple[datetime.datetime, str]]] = defaultdict(list)
    for object_id, when, changes in (
        AuditEntry.objects.filter(
            area_code__startswith=county,
            object_type="household",
            action="household.update",
            outcome=AuditEntry.Outcome.DONE,
            changes__contains='"bank_card_hash"',
        )
        .values_list("object_id", "created_at", "changes")
        .order_by("seq")
    ):
        try:
            parsed = json.loads(changes) if isinstance(changes, str | bytes) else changes
            change = parsed.get("bank_card_hash")
        except (ValueError, AttributeError):
            continue
        if isinstance(change, list) and len(change) == 2 and object_id.isdigit():
            out[int(object_id)].append((when, str(change[1])))
    return out


def _card_changed_before_payment(ctx: Context) -> Iterable[Finding]:
    days = int(ctx.params["card_changed_before_payment"]["card_change_days"])
    changes = _card_changes(ctx.county)
    if not changes:
        return
    lines = (
        PaymentLine.objects.filter(
            household__area_code__startswith=ctx.county,
            household__bank_card_changed_at__isnull=False,
            status__in=PAID,
            round__sent_at__isnull=False,
        )
        .values_list(
            "pk",
            "application_id",
            "household_id",
            "household__area_code",
            "household__head_name",
            "card_hash",
            "card_masked",
            "round__sent_at",
            "round__reference",
        )
        .order_by("pk")
    )
    for pk, app, household, area, head, card_hash, card_masked, sent, reference in lines:
        if sent is None or household not in changes:
            continue
        became = [
            when
            for when, prefix in changes[household]
            if when <= sent and card_hash.startswith(prefix)
        ]
        if not became:
            continue
        changed = max(became)
        if sent - changed < datetime.timedelta(days=days):
            yield Finding(
                key=f"card_changed_before_payment:l{pk}",
                household_id=household,
                application_id=app,
                area_code=area,
                person_masked=mask_name(head),
                facts={
                    "card": card_masked,
                    "changed": _day(changed),
                    "sent": _day(sent),
                    "days": (sent - changed).days,
                    "threshold": days,
                    "round": reference,
                },
            )


def _paid_amount_mismatch(ctx: Context) -> Iterable[Finding]:
    lines = (
        PaymentLine.objects.filter(
            round__area_code__startswith=ctx.county, paid_amount__isnull=False
        )
        .exclude(paid_amount=F("amount"))
        .values_list(
            "pk",
            "application_id",
            "household_id",
            "household__area_code",
            "household__head_name",
            "amount",
            "paid_amount",
            "round__reference",
            "answered_at",
        )
        .order_by("pk")
    )
    for pk, app, household, area, head, amount, paid, reference, answered in lines:
        if paid is None:
            continue
        yield Finding(
            key=f"paid_amount_mismatch:l{pk}",
            household_id=household,
            application_id=app,
            area_code=area,
            person_masked=mask_name(head),
            facts={
                "sent_amount": str(amount),
                "paid_amount": str(paid),
                "difference": str(amount - paid),
                "round": reference,
                "answered": _day(answered),
            },
        )


def _duplicate_benefit(ctx: Context) -> Iterable[Finding]:
    items = list(
        ApplicationItem.objects.filter(
            application__area_code__startswith=ctx.county, application__status__in=BENEFIT_HELD
        ).values_list(
            "application_id",
            "application__household_id",
            "application__area_code",
            "application__household__head_name",
            "application__program_id",
            "application__program__name",
            "application__created_at",
            "item__code",
            "item__name",
        )
    )
    if not items:
        return
    approved: dict[int, datetime.datetime] = {}
    for app, when in Decision.objects.filter(
        application__area_code__startswith=ctx.county,
        application__status__in=BENEFIT_HELD,
        to_status=Application.Status.APPROVED,
    ).values_list("application_id", "decided_at"):
        approved[app] = max(when, approved.get(app, when))
    groups: dict[tuple[int, str, int], list[tuple[Any, ...]]] = defaultdict(list)
    for row in items:
        app, household, _area, _head, _program, _name, created, code, _item = row
        year = _local_date(approved.get(app, created)).year
        groups[(household, code, year)].append(row)
    for (household, code, year), rows in sorted(groups.items()):
        programs = {r[4] for r in rows}
        if len(programs) < 2:
            continue
        rows.sort(key=lambda r: r[0])
        latest = rows[-1]
        yield Finding(
            key=f"duplicate_benefit:h{household}:{code}:{year}",
            household_id=household,
            application_id=latest[0],
            area_code=latest[2],
            person_masked=mask_name(latest[3]),
            facts={
                "item": latest[8],
                "year": year,
                "applications": [
                    {"id": r[0], "program": r[5], "approved": _day(approved.get(r[0]))}
                    for r in rows
                ],
            },
        )


def _appraisal_pattern(ctx: Context) -> Iterable[Finding]:
    least = int(ctx.params["appraisal_pattern"]["appraisal_repeat_min"])
    fields = ("area_code", "appraisal_attendees", "appraisal_votes_for", "appraisal_votes_against")
    apps = Application.objects.filter(
        area_code__startswith=ctx.county,
        appraisal_date__isnull=False,
        appraisal_attendees__isnull=False,
        appraisal_votes_for__isnull=False,
        appraisal_votes_against__isnull=False,
    ).exclude(status=Application.Status.DRAFT)
    groups = (
        apps.values(*fields)
        .annotate(n=Count("pk"), dates=Count("appraisal_date", distinct=True))
        .filter(n__gte=least, dates__gte=2)
        .order_by(*fields)
    )
    for group in groups:
        same = apps.filter(**{f: group[f] for f in fields}).order_by("appraisal_date", "pk")
        members = list(same.values_list("pk", "appraisal_date"))
        village = group["area_code"]
        yield Finding(
            key="appraisal_pattern:{}:{}:{}:{}".format(*(group[f] for f in fields)),
            household_id=None,
            application_id=None,
            area_code=village,
            person_masked="",
            facts={
                "attendees": group["appraisal_attendees"],
                "for": group["appraisal_votes_for"],
                "against": group["appraisal_votes_against"],
                "count": group["n"],
                "dates": group["dates"],
                "threshold": least,
                "first": _day(members[0][1]),
                "last": _day(members[-1][1]),
                "applications": [pk for pk, _date in members],
            },
        )


RULES: tuple[Rule, ...] = (
    Rule("public_servant", Severity.HIGH, {}, _public_servant, Kind.PUBLIC_SERVANT),
    Rule("vehicle", Severity.MEDIUM, {"vehicle_value_min": "30000"}, _vehicle, Kind.VEHICLE),
    Rule(
        "property",
        Severity.MEDIUM,
        {"property_types": ["商品房", "商铺", "写字楼", "商业用房"]},
        _property,
        Kind.PROPERTY,
    ),
    Rule(
        "business",
        Severity.MEDIUM,
        {"active_statuses": ["存续", "在业", "在营", "开业"]},
        _business,
        Kind.BUSINESS,
    ),
    Rule("deceased", Severity.HIGH, {}, _deceased, Kind.DECEASED),
    Rule("moved_out", Severity.MEDIUM, {}, _moved_out, Kind.MOVED_OUT),
    Rule("shared_card", Severity.HIGH, {}, _shared_card),
    Rule("shared_phone", Severity.LOW, {"shared_phone_min": 3}, _shared_phone),
    Rule("kin_handled", Severity.HIGH, {}, _kin_handled),
    Rule(
        "card_changed_before_payment",
        Severity.MEDIUM,
        {"card_change_days": 30},
        _card_changed_before_payment,
    ),
    Rule("paid_amount_mismatch", Severity.HIGH, {}, _paid_amount_mismatch),
    Rule("duplicate_benefit", Severity.HIGH, {}, _duplicate_benefit),
    Rule("appraisal_pattern", Severity.LOW, {"appraisal_repeat_min": 10}, _appraisal_pattern),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


def rule_params() -> dict[str, dict[str, Any]]:
    """Every rule's parameters as a scan uses them: the defaults, with the county's settings
    (``FUPIN_CROSSCHECK_PARAMS``) over them."""
    from django.conf import settings

    overrides: Mapping[str, Mapping[str, Any]] = getattr(settings, "FUPIN_CROSSCHECK_PARAMS", {})
    return {
        rule.code: {
            **rule.defaults,
            **{k: v for k, v in overrides.get(rule.code, {}).items() if k in rule.defaults},
        }
        for rule in RULES
    }
