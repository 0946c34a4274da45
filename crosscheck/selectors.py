"""What inspectors read of the cross-checks: the lists, the scans and the leads of their
counties (an administrator's: every county). Nobody else reads any of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from applications.roles import Role
from applications.selectors import is_everywhere, scope_prefixes
from common.actors import Actor
from common.errors import Forbidden, NotFound
from crosscheck.models import Lead, ReferenceList, Scan


def crosscheck_counties(user: Actor) -> list[str] | None:
    """The county codes whose cross-checks the user works on; ``None`` for every county (an
    administrator). Raises ``Forbidden`` (code ``role``) for anyone who is not an
    inspector."""
    if is_everywhere(user):
        return None
    counties = sorted({p[:6] for p in scope_prefixes(user, roles=[Role.INSPECTOR]) if len(p) >= 6})
    if not counties:
        raise Forbidden(_("Only disciplinary inspectors work on the cross-checks."))
    return counties


def _in_counties(qs: QuerySet[Any], user: Actor) -> QuerySet[Any]:
    counties = crosscheck_counties(user)
    return qs if counties is None else qs.filter(county_code__in=counties)


def county_for(user: Actor, county: str | None) -> str:
    """The county an inspector acts on: the one named, which must be theirs, or their only
    one. Raises ``NotFound`` for a county not theirs, ``Forbidden`` for a non-inspector."""
    counties = crosscheck_counties(user)
    if county:
        if counties is None:
            from applications.models import Area

            if Area.objects.filter(code=county.ljust(12, "0"), level=Area.Level.COUNTY).exists():
                return county
        elif county in counties:
            return county
        raise NotFound(_("No such county in your area."))
    if counties is not None and len(counties) == 1:
        return counties[0]
    raise NotFound(_("Choose the county."))


def reference_lists_visible_to(user: Actor) -> QuerySet[ReferenceList]:
    return _in_counties(ReferenceList.objects.select_related("uploaded_by"), user)


def lists_in_force(county: str) -> dict[str, ReferenceList]:
    """The list of each kind that scans of the county use: the newest by its date, then by
    its upload."""
    out: dict[str, ReferenceList] = {}
    for reference in ReferenceList.objects.filter(county_code=county).order_by(
        "kind", "-as_of", "-uploaded_at", "-pk"
    ):
        out.setdefault(reference.kind, reference)
    return out


def lists_in_force_ids(counties: Iterable[str]) -> set[int]:
    """The ids of the lists in force in these counties (``lists_in_force``)."""
    return {r.pk for county in set(counties) for r in lists_in_force(county).values()}


def scans_visible_to(user: Actor) -> QuerySet[Scan]:
    return _in_counties(Scan.objects.select_related("requested_by"), user)


def leads_visible_to(user: Actor) -> QuerySet[Lead]:
    return _in_counties(Lead.objects.all(), user)


def leads_filtered(user: Actor, *, filters: Mapping[str, Any]) -> QuerySet[Lead]:
    """The user's leads with every given filter: ``scan`` (found by that scan), ``rule``,
    ``status``, ``severity``, ``area`` (a code prefix), ``household``."""
    qs = leads_visible_to(user)
    if filters.get("scan") is not None:
        qs = qs.filter(sightings__scan_id=filters["scan"])
    for name in ("rule", "status", "severity"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("area"):
        qs = qs.filter(area_code__startswith=filters["area"])
    if filters.get("household") is not None:
        qs = qs.filter(household_id=filters["household"])
    return qs


def lead_counts(leads: QuerySet[Lead]) -> dict[str, list[dict[str, Any]]]:
    """The leads counted by rule and by village, open ones apart."""
    open_ = Count("pk", filter=Q(status=Lead.Status.OPEN))
    return {
        "by_rule": list(
            leads.order_by().values("rule").annotate(total=Count("pk"), open=open_).order_by("rule")
        ),
        "by_area": list(
            leads.order_by()
            .values("area_code")
            .annotate(total=Count("pk"), open=open_)
            .order_by("-total", "area_code")
        ),
    }


def latest_scan(user: Actor) -> Scan | None:
    return scans_visible_to(user).first()
