"""The dashboard of the home page: where a township or a county stands, for its reviewers,
approvers, finance officers and inspectors (seed 000's figures are such a dashboard: 1,634
households applying, 69 %; the budget raised and paid).

Each figure is a table (rows by the area one level below the reader's, or by program, or by
household type; one column per series) that the page draws as a chart beside it, the API
answers as JSON (``GET /api/v1/dashboard/``) and the CSV download writes out: one selector,
so the three always agree. Every count reads through the scoped selectors: a township's
reviewer sees their villages, a county's officers their townships."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, Sum
from django.db.models.functions import Substr
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from applications.models import Application, Area, Household, Program
from applications.roles import Role
from applications.selectors import (
    is_everywhere,
    programs_visible_to,
    scope_prefixes,
)
from common.actors import Actor
from common.charts import Number, SeriesChart, grouped_chart, stacked_chart
from common.money import to_fen
from crosscheck.models import Lead
from crosscheck.selectors import leads_visible_to
from loans.selectors import loans_visible_to
from workflows.models import Tally
from workflows.services import tallies_refresh

S = Application.Status
# The roles whose home page is the dashboard (a cadre's is their village; a bank's officer
# sees no registry).
DASHBOARD_ROLES = (
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.FINANCE_OFFICER,
    Role.INSPECTOR,
)
# Applications, by how far they have got: each stage a set of statuses.
STAGES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("village", gettext_lazy("in the village"), (S.DRAFT, S.SUBMITTED, S.RETURNED)),
    ("posted", gettext_lazy("in public posting"), (S.POSTED,)),
    ("township", gettext_lazy("township review"), (S.TOWNSHIP_REVIEW,)),
    ("county", gettext_lazy("county review"), (S.COUNTY_REVIEW,)),
    ("approved", gettext_lazy("approved, not yet paid"), (S.APPROVED, S.BANK_APPROVED)),
    ("paid", gettext_lazy("paid or lent"), (S.DISBURSED,)),
    (
        "stopped",
        gettext_lazy("rejected, declined or withdrawn"),
        (S.REJECTED, S.DECLINED, S.WITHDRAWN),
    ),
)
MONEY_KINDS = (Program.Kind.SUBSIDY, Program.Kind.LOAN)
LEAD_VILLAGES = 15


@dataclass(frozen=True)
class FigureRow:
    label: str
    code: str
    values: tuple[Number, ...]
    link: str = ""
    # A figure worked out from the values (a share), shown in the table only.
    note: str = ""


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    row_title: str
    series: tuple[str, ...]
    rows: tuple[FigureRow, ...]
    stacked: bool = True
    unit: str = ""
    note_title: str = ""
    totals: tuple[Number, ...] = field(default=())

    @property
    def chart(self) -> SeriesChart:
        make = stacked_chart if self.stacked else grouped_chart
        return make([(r.label, r.values, r.link) for r in self.rows], self.series)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "row_title": self.row_title,
            "unit": self.unit,
            "series": list(self.series),
            "rows": [
                {
                    "label": r.label,
                    "code": r.code,
                    "values": [str(v) if isinstance(v, Decimal) else v for v in r.values],
                    **({"note": r.note} if self.note_title else {}),
                }
                for r in self.rows
            ],
        }

    def csv_rows(self) -> tuple[list[str], list[list[str]]]:
        header = [self.row_title, *self.series] + ([self.note_title] if self.note_title else [])
        rows = [
            [r.label, *(str(v) for v in r.values)] + ([r.note] if self.note_title else [])
            for r in self.rows
        ]
        return header, rows


def has_dashboard(user: Actor) -> bool:
    return is_everywhere(user) or bool(scope_prefixes(user, DASHBOARD_ROLES))


@dataclass(frozen=True)
class Scope:
    """The reader's area for the dashboard, and the level its rows are one step below."""

    prefixes: tuple[str, ...]
    digits: int  # how many digits of an area code name a row's area (6, 9 or 12)
    level: str

    @property
    def county_wide(self) -> bool:
        return self.digits <= 9


def dashboard_scope(user: Actor) -> Scope:
    if is_everywhere(user):
        return Scope((), 6, Area.Level.COUNTY)
    prefixes = tuple(scope_prefixes(user, DASHBOARD_ROLES))
    if prefixes and all(len(p) == 9 for p in prefixes):
        return Scope(prefixes, 12, Area.Level.VILLAGE)
    return Scope(prefixes, 9, Area.Level.TOWNSHIP)


def _names(codes: Sequence[str]) -> dict[str, str]:
    return dict(Area.objects.filter(code__in=list(codes)).values_list("code", "name"))


def _area_code(prefix: str) -> str:
    return prefix.ljust(12, "0")


@dataclass(frozen=True)
class Tallies:
    """The tallies of the reader's area (``Tally``, refreshed by the timers), read once for
    all the figures: applications by (village, program, status) with their amounts, the
    households that applied by (village, program), and the households by (village, type,
    status); and the moment they were counted."""

    applications: tuple[tuple[str, int, str, int, Decimal], ...]
    applied: tuple[tuple[str, int, int], ...]
    households: tuple[tuple[str, str, int], ...]
    as_of: datetime | None


def tallies_of(user: Actor, scope: Scope) -> Tallies:
    """The reader's tallies; a county never counted yet is counted now."""
    if scope.prefixes:
        counties = sorted({p[:6] for p in scope.prefixes})
    else:
        counties = [
            c[:6]
            for c in Area.objects.filter(level=Area.Level.COUNTY).values_list("code", flat=True)
        ]
    counted = set(
        Tally.objects.filter(county_code__in=counties).values_list("county_code", flat=True)
    )
    missing = [c for c in counties if c not in counted]
    if missing:
        tallies_refresh(counties=missing)
    qs = Tally.objects.filter(county_code__in=counties)
    if scope.prefixes:
        cond = Q()
        for prefix in scope.prefixes:
            cond |= Q(area_code__startswith=prefix)
        qs = qs.filter(cond)
    applications, applied, households = [], [], []
    as_of = None
    for kind, area, program, key, n, amount, at in qs.values_list(
        "kind", "area_code", "program_id", "key", "count", "amount", "refreshed_at"
    ):
        as_of = at if as_of is None or at < as_of else as_of
        if kind == Tally.Kind.APPLICATIONS:
            applications.append((area, program, key, n, amount))
        elif kind == Tally.Kind.APPLIED:
            applied.append((area, program, n))
        elif key:
            households.append((area, key, n))
    stamp = (
        Tally.objects.filter(county_code__in=counties)
        .order_by("refreshed_at")
        .values_list("refreshed_at", flat=True)
        .first()
    )
    return Tallies(tuple(applications), tuple(applied), tuple(households), stamp or as_of)


def figure_households(tallies: Tallies) -> Figure:
    """Households by type (rows) and status (series)."""
    counts: dict[str, int] = {}
    for _area, key, n in tallies.households:
        counts[key] = counts.get(key, 0) + n
    statuses = Household.Status.values
    rows = tuple(
        FigureRow(
            label=str(label),
            code=kind,
            values=tuple(counts.get(f"{kind}:{s}", 0) for s in statuses),
        )
        for kind, label in Household.Kind.choices
    )
    return Figure(
        key="households",
        title=_("Households by type and status"),
        row_title=_("household type"),
        series=tuple(str(label) for label in Household.Status.labels),
        rows=rows,
        unit=_("households"),
    )


def _queue_link(scope: Scope, code: str) -> str:
    name = "village" if scope.digits == 12 else "township" if scope.digits == 9 else "area"
    value = _area_code(code) if scope.digits in (9, 12) else code
    return reverse("workflows:queue") + "?" + urlencode({name: value})


def _money_programs() -> set[int]:
    return set(Program.objects.filter(kind__in=MONEY_KINDS).values_list("pk", flat=True))


def figure_stages(tallies: Tallies, scope: Scope) -> Figure:
    """Applications for money (subsidies, loans) by stage (series), per area one level
    below the reader's (rows)."""
    money = _money_programs()
    counts: dict[tuple[str, str], int] = {}
    for area, program, status, n, _amount in tallies.applications:
        if program in money:
            key = (area[: scope.digits], status)
            counts[key] = counts.get(key, 0) + n
    areas = sorted({a for a, _s in counts} | set(_areas_below(scope)))
    names = _names([_area_code(a) for a in areas])
    rows = tuple(
        FigureRow(
            label=names.get(_area_code(a), a),
            code=_area_code(a),
            values=tuple(
                sum(counts.get((a, s), 0) for s in statuses) for _k, _l, statuses in STAGES
            ),
            link=_queue_link(scope, a),
        )
        for a in areas
    )
    return Figure(
        key="stages",
        title=_("Applications by stage"),
        row_title=str(Area.Level(scope.level).label),
        series=tuple(str(label) for _k, label, _s in STAGES),
        rows=rows,
        unit=_("applications"),
    )


def _areas_below(scope: Scope) -> list[str]:
    """The areas one level below the reader's (so that an area with nothing yet still has
    its row)."""
    level = {12: Area.Level.VILLAGE, 9: Area.Level.TOWNSHIP, 6: Area.Level.COUNTY}[scope.digits]
    qs = Area.objects.filter(level=level)
    if scope.prefixes:
        cond = Q()
        for prefix in scope.prefixes:
            cond |= Q(code__startswith=prefix)
        qs = qs.filter(cond)
    return [code[: scope.digits] for code in qs.values_list("code", flat=True)]


def figure_applying(user: Actor, tallies: Tallies) -> Figure:
    """For each program of money: the households of the reader's area that applied (any
    application but a withdrawn one) and those that did not, and the share that applied."""
    households = sum(n for _a, _k, n in tallies.households)
    applied: dict[int, int] = {}
    for _area, program_id, n in tallies.applied:
        applied[program_id] = applied.get(program_id, 0) + n
    rows = []
    for program in programs_visible_to(user).filter(kind__in=MONEY_KINDS).order_by("kind", "code"):
        n = applied.get(program.pk, 0)
        share = f"{100 * n / households:.1f} %" if households else "—"
        rows.append(
            FigureRow(
                label=program.name,
                code=program.code,
                values=(n, max(households - n, 0)),
                link=reverse("workflows:queue") + "?" + urlencode({"program": program.pk}),
                note=share,
            )
        )
    return Figure(
        key="applying",
        title=_("Share of registered households that applied, per program"),
        row_title=_("program"),
        series=(_("households that applied"), _("did not apply")),
        rows=tuple(rows),
        unit=_("households"),
        note_title=_("share that applied"),
    )


def figure_budget(user: Actor, tallies: Tallies) -> Figure:
    """For each subsidy program: its budget (allocated), what approved and paid
    applications commit, and what the bank has paid."""
    paid: dict[int, Decimal] = {}
    for _area, program_id, status, _n, amount in tallies.applications:
        if status == S.DISBURSED:
            paid[program_id] = paid.get(program_id, Decimal("0")) + amount
    rows = []
    for program in programs_visible_to(user).filter(kind=Program.Kind.SUBSIDY).order_by("code"):
        done = to_fen(paid.get(program.pk) or 0)
        share = f"{100 * done / program.budget:.1f} %" if program.budget else "—"
        rows.append(
            FigureRow(
                label=program.name,
                code=program.code,
                values=(program.budget, program.committed, done),
                note=share,
            )
        )
    return Figure(
        key="budget",
        title=_("Budget execution per program"),
        row_title=_("program"),
        series=(_("allocated"), _("committed"), _("paid")),
        rows=tuple(rows),
        stacked=False,
        unit=_("yuan"),
        note_title=_("share paid"),
    )


def figure_loans(user: Actor, scope: Scope) -> Figure:
    """Microloans outstanding and overdue (principal), per area one level below."""
    digits = scope.digits
    live = loans_visible_to(user).exclude(outstanding_principal=0)
    sums: dict[str, tuple[Decimal, Decimal]] = {
        area: (to_fen(outstanding or 0), to_fen(overdue or 0))
        for area, outstanding, overdue in live.order_by()
        .annotate(part=Substr("area_code", 1, digits))
        .values_list("part")
        .annotate(
            outstanding=Sum("outstanding_principal"),
            overdue=Sum("outstanding_principal", filter=Q(days_past_due__gt=0)),
        )
        .values_list("part", "outstanding", "overdue")
    }
    areas = sorted(sums)
    names = _names([_area_code(a) for a in areas])
    return Figure(
        key="loans",
        title=_("Microloans outstanding and overdue"),
        row_title=str(Area.Level(scope.level).label),
        series=(_("outstanding principal"), _("of which overdue")),
        rows=tuple(
            FigureRow(label=names.get(_area_code(a), a), code=_area_code(a), values=sums[a])
            for a in areas
        ),
        stacked=False,
        unit=_("yuan"),
    )


def figure_leads(user: Actor) -> Figure:
    """The inspectors' leads by village (the villages with the most), by status."""
    statuses = Lead.Status.values
    counts: dict[str, dict[str, int]] = {}
    for area, status, n in (
        leads_visible_to(user)
        .order_by()
        .values_list("area_code", "status")
        .annotate(n=Count("pk"))
        .values_list("area_code", "status", "n")
    ):
        counts.setdefault(area, {})[status] = n
    top = sorted(counts, key=lambda a: (-sum(counts[a].values()), a))[:LEAD_VILLAGES]
    names = _names(top)
    return Figure(
        key="leads",
        title=_("Leads by village"),
        row_title=_("village"),
        series=tuple(str(label) for label in Lead.Status.labels),
        rows=tuple(
            FigureRow(
                label=names.get(a, a),
                code=a,
                values=tuple(counts[a].get(s, 0) for s in statuses),
                link=reverse("inspection:leads") + "?" + urlencode({"area": a}),
            )
            for a in top
        ),
        unit=_("leads"),
    )


@dataclass(frozen=True)
class Dashboard:
    figures: list[Figure]
    # When the tallies behind the counts were counted (the timers count them every minute).
    as_of: datetime | None


def _makers(user: Actor) -> tuple[dict[str, Callable[[], Figure]], Callable[[], Tallies]]:
    """The figures the reader's home page shows, in order, each not yet worked out:
    households, applications by stage, the share applying, and for a county the budget;
    the loans; the leads for an inspector. And the tallies they read, read once."""
    if not has_dashboard(user):
        return {}, lambda: Tallies((), (), (), None)
    scope = dashboard_scope(user)
    read: list[Tallies] = []

    def tallies() -> Tallies:
        if not read:
            read.append(tallies_of(user, scope))
        return read[0]

    makers: dict[str, Callable[[], Figure]] = {
        "households": lambda: figure_households(tallies()),
        "stages": lambda: figure_stages(tallies(), scope),
        "applying": lambda: figure_applying(user, tallies()),
    }
    if scope.county_wide:
        makers["budget"] = lambda: figure_budget(user, tallies())
    makers["loans"] = lambda: figure_loans(user, scope)
    if is_everywhere(user) or scope_prefixes(user, [Role.INSPECTOR]):
        makers["leads"] = lambda: figure_leads(user)
    return makers, tallies


def dashboard_read(user: Actor) -> Dashboard:
    """Every figure of the reader's dashboard, and the moment of its counts."""
    makers, tallies = _makers(user)
    figures = [make() for make in makers.values()]
    return Dashboard(figures, tallies().as_of if makers else None)


def dashboard_figures(user: Actor) -> list[Figure]:
    return dashboard_read(user).figures


def dashboard_figure(user: Actor, key: str) -> Figure | None:
    """One figure of the reader's dashboard (its CSV), the others not worked out."""
    makers, _tallies = _makers(user)
    make = makers.get(key)
    return make() if make is not None else None
