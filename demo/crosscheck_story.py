"""The demo county's cross-checks (大数据比对): six departments send their lists, each with a
few people of the registry on it (matches) and others who must not become leads (near
misses: a cheap tricycle, a self-built house, a deregistered shop, a death after the
payment, a move after the application) among people who are not in the registry at all. The
inspector runs a scan, confirms one lead and clears another.

Everything goes through the services, at the time the demo is loaded, after its history."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db.models import Count
from django.utils import timezone

from applications import idnumbers
from applications.idnumbers import id_check_digit
from applications.models import Application, Person, Program
from applications.services import household_update
from crosscheck.formats import headers_of
from crosscheck.models import Lead, ReferenceList
from crosscheck.services import lead_dispose, reference_list_upload, scan_now
from payments.models import PaymentLine

K = ReferenceList.Kind

SOURCES: dict[str, str] = {
    K.PUBLIC_SERVANT: "县委组织部、县人社局",
    K.VEHICLE: "市公安局交警支队",
    K.PROPERTY: "县不动产登记中心",
    K.BUSINESS: "县市场监督管理局",
    K.DECEASED: "县公安局",
    K.MOVED_OUT: "县公安局",
}


class CrosscheckStory:
    def __init__(self, county: str, inspector: Any, rng: random.Random) -> None:
        self.county = county[:6]
        self.inspector = inspector
        self.rng = rng
        self.today = timezone.localdate()
        self.serial = 0

    # --- people -------------------------------------------------------------------------

    def stranger(self) -> tuple[str, str]:
        """Someone not in the registry: a valid ID number of the county and a name."""
        self.serial += 1
        born = date(1960, 1, 1) + timedelta(days=self.rng.randrange(0, 15000))
        first17 = f"{self.county}{born:%Y%m%d}{900 + self.serial % 100:03d}"
        return first17 + id_check_digit(first17), self.rng.choice("赵钱孙李周吴郑王") + "某"

    def registered(self, person: Person) -> tuple[str, str]:
        return idnumbers.decrypt(person.id_cipher), person.name

    def applied(self) -> list[Application]:
        return list(
            Application.objects.filter(
                area_code__startswith=self.county,
                program__kind__in=[Program.Kind.SUBSIDY, Program.Kind.LOAN],
            )
            .exclude(status__in=[Application.Status.DRAFT, Application.Status.WITHDRAWN])
            .select_related("household")
            .order_by("pk")
        )

    # --- the lists ----------------------------------------------------------------------

    def upload(self, kind: str, rows: Sequence[Sequence[Any]], as_of: date) -> ReferenceList:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers_of(kind))
        strangers = [[*self.stranger(), *self.filler(kind)] for _ in range(12)]
        mixed = [list(r) for r in rows] + strangers
        if kind == K.VEHICLE:
            # A clerk's typing error: a check digit that does not fit. Skipped, reported.
            number, name = self.stranger()
            wrong = next(c for c in "0123456789X" if c != number[17])
            mixed.append([number[:17] + wrong, name, "甘F00000", "52000"])
        self.rng.shuffle(mixed)
        writer.writerows(mixed)
        # Departments write GB18030 more often than not.
        data = out.getvalue().encode("gb18030")
        return reference_list_upload(
            actor=self.inspector,
            kind=kind,
            source=SOURCES[kind],
            as_of=as_of,
            file=ContentFile(data, name=f"{kind}.csv"),
            file_name=f"{kind}-{as_of:%Y%m%d}.csv",
        )

    def filler(self, kind: str) -> list[str]:
        day = (self.today - timedelta(days=self.rng.randrange(30, 900))).isoformat()
        fill: dict[str, Callable[[], list[str]]] = {
            K.PUBLIC_SERVANT: lambda: [self.rng.choice(["县教育局", "县卫健局", "某镇政府"])],
            K.VEHICLE: lambda: ["甘F" + f"{self.rng.randrange(10000, 99999)}", "86000"],
            K.PROPERTY: lambda: ["肃州区某小区", "商品房"],
            K.BUSINESS: lambda: ["某商贸有限公司", "存续"],
            K.DECEASED: lambda: [day],
            K.MOVED_OUT: lambda: [day],
        }
        return fill[kind]()

    def run(self) -> str:
        apps = self.applied()
        # Households with one application each, newest first: the people on the lists.
        seen: set[int] = set()
        picks: list[Application] = []
        for app in reversed(apps):
            if app.household_id not in seen:
                seen.add(app.household_id)
                picks.append(app)
        members = {app.household_id: list(app.household.members.order_by("pk")) for app in picks}
        with_spouse = [
            a for a in picks if any(m.relation == "spouse" for m in members.get(a.household_id, []))
        ]
        with_child = [
            a for a in picks if any(m.relation == "child" for m in members.get(a.household_id, []))
        ]

        def member(app: Application, relation: str) -> Person:
            return next(m for m in members[app.household_id] if m.relation == relation)

        as_of = self.today - timedelta(days=5)
        # 财政供养人员: a spouse working for the township (a lead).
        self.upload(
            K.PUBLIC_SERVANT,
            [[*self.registered(member(with_spouse[0], "spouse")), "某乡人民政府"]],
            as_of,
        )
        # Vehicles: a 128,000-yuan car (a lead), a 6,500-yuan tricycle (a near miss).
        self.upload(
            K.VEHICLE,
            [
                [*self.registered(member(with_spouse[1], "spouse")), "甘F8A866", "128000"],
                [*self.registered(member(with_spouse[2], "head")), "甘F3M217", "6500"],
            ],
            as_of,
        )
        # Property: a shop in town (a lead); a self-built house in the village (a near miss).
        self.upload(
            K.PROPERTY,
            [
                [*self.registered(member(with_spouse[3], "head")), "肃州区南大街88号", "商铺"],
                [*self.registered(member(with_spouse[4], "head")), "四坝村二组", "自建房"],
            ],
            as_of,
        )
        # Businesses: an active company (a lead), a shop deregistered years ago (a near miss).
        self.upload(
            K.BUSINESS,
            [
                [*self.registered(member(with_child[5], "head")), "肃州区某农资经营部", "存续"],
                [*self.registered(member(with_child[6], "head")), "某某小卖部", "注销"],
            ],
            as_of,
        )
        # Deaths: a head who died before the household applied (a lead); a head who died
        # after being paid (a near miss).
        early = with_child[7]
        # The near miss: a household with one application, paid once, the head dying after.
        single = (
            Application.objects.filter(area_code__startswith=self.county)
            .values("household_id")
            .annotate(n=Count("pk"))
            .filter(n=1)
            .values("household_id")
        )
        paid = (
            PaymentLine.objects.filter(
                household_id__in=single,
                status=PaymentLine.Status.PAID,
                round__sent_at__isnull=False,
                claim_id__isnull=True,
            )
            .select_related("round", "household")
            .order_by("pk")
            .first()
        )
        deaths = [
            [
                *self.registered(member(early, "head")),
                (timezone.localdate(early.created_at) - timedelta(days=20)).isoformat(),
            ]
        ]
        if paid is not None and paid.round.sent_at is not None:
            head = paid.household.members.get(relation="head")
            after = timezone.localdate(paid.round.sent_at) + timedelta(days=3)
            deaths.append([*self.registered(head), min(after, as_of).isoformat()])
        self.upload(K.DECEASED, deaths, as_of)
        # Moves: a son who left before the household applied (a lead), one who left after
        # (a near miss).
        # The move after the application is dated ten days after it, so that application
        # must be older than that (and than the list).
        before = with_child[8]
        after_app = next(
            a
            for a in with_child[9:]
            if timezone.localdate(a.created_at) + timedelta(days=10) <= as_of
        )
        self.upload(
            K.MOVED_OUT,
            [
                [
                    *self.registered(member(before, "child")),
                    (timezone.localdate(before.created_at) - timedelta(days=60)).isoformat(),
                ],
                [
                    *self.registered(member(after_app, "child")),
                    min(
                        timezone.localdate(after_app.created_at) + timedelta(days=10), as_of
                    ).isoformat(),
                ],
            ],
            as_of,
        )
        self.shared_phone(picks[20:23])
        scan = scan_now(county=self.county, actor=self.inspector)
        self.dispose(
            "public_servant",
            "confirmed",
            "经核实，其配偶为乡政府在编人员，家庭收入超过识别标准，已移交处理。",
        )
        self.dispose(
            "shared_phone",
            "cleared",
            "核实为村委会公用电话，代无手机的农户登记，非虚报。",
        )
        return (
            f"cross-checks: {ReferenceList.objects.count()} lists, scan {scan.pk} found "
            f"{scan.leads_found} leads in {scan.duration_ms} ms"
        )

    def shared_phone(self, apps: list[Application]) -> None:
        """Three households of a village given the village committee's phone by their cadre
        (they have none of their own): a lead that the inspector clears."""
        village = apps[0].household.area_code
        same = list(
            Application.objects.filter(area_code=village)
            .select_related("household", "household__created_by")
            .order_by("pk")
        )
        households = list({a.household_id: a.household for a in same}.values())[:3]
        for household in households:
            household_update(
                actor=household.created_by, household_id=household.pk, phone="09372612345"
            )

    def dispose(self, rule: str, status: str, note: str) -> None:
        lead = Lead.objects.filter(county_code=self.county, rule=rule).order_by("pk").first()
        if lead is not None:
            lead_dispose(actor=self.inspector, lead_id=lead.pk, status=status, note=note)


def crosscheck_story(county: str, inspector: Any, rng: random.Random) -> Callable[[], str]:
    return CrosscheckStory(county, inspector, rng).run
