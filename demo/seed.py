"""Demo data: a county modelled on seed 000 (肃州区, 酒泉), with its townships and villages,
a few hundred registered households, the seed's programs, one user per role,
applications in every state of the chain, and the county's microloans with their bank, risk
fund and interest subsidy (``demo.loan_story``).

Everything goes through the services, so the audit trail is complete and
``verify_audit`` passes. The history is written as it would have happened: a simulated
clock (``common.clock.frozen_at``, which the services, the rules and the models' time
stamps read) walks through the county's history in time order: the registry set up about
fifteen months ago, loans lent, repaid and subsidised since, and the last ten weeks of
subsidy applications (filed, appraised, posted for their window, closed by the nightly
timer, reviewed, approved, paid), so that postings last their full period, some windows
have passed without the timer having run yet, and the ledger's times only ever move
forward.

Idempotent: when the demo program exists the command changes nothing and only prints the
users. The whole seed is one transaction: it is there entirely or not at all.
"""

from __future__ import annotations

import heapq
import io
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from applications import idnumbers
from applications.idnumbers import id_check_digit
from applications.models import (
    Application,
    Area,
    Bank,
    Household,
    KinDeclaration,
    KinFlag,
    Program,
)
from applications.roles import REVEAL_PERMISSION, Role
from applications.services import (
    bank_create,
    household_create,
    household_update,
    kin_declare,
    program_create,
)
from approvals.models import Attachment, CardCheck
from approvals.services.attachments import attachment_add
from approvals.services.card_checks import card_check_record
from approvals.services.filing import application_create, application_edit
from approvals.services.objections import objection_raise, objection_resolve
from approvals.services.transitions import application_transition, postings_close_due
from audit.services import audit_record
from common import clock
from common.actors import Actor
from demo.crosscheck_story import crosscheck_story
from demo.loan_story import loans_summary
from demo.registry_story import registry_story
from demo.world import (
    EXIT_CODE,
    LOAN_CODE,
    PEN,
    RETURN_CODE,
    SUBSIDY_CODE,
    Grant,
    Place,
    grants_give,
    loan_program_create,
    places_create,
    status_programs_create,
    subsidy_program_create,
)
from payments.models import Acceptance, PaymentRound, SampledAcceptance
from payments.services.acceptance import (
    acceptance_recheck,
    acceptance_record,
    acceptance_sample_draw,
)
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create

# Published in the README; demo databases only.
DEMO_PASSWORD = "demo12345"  # noqa: S105
SEED = 20160418  # fixed: the same demo every time
# The day (from today) the county was set up and its registry loaded: long enough ago for
# loans to have lived a year (repaid, late, compensated), before this autumn's applications.
START = -470
PEN_CODE = "quanshe-xianjian"  # the pen program, paid after acceptance (先建后补)
PEN_PASSED = "圈舍已建成，砖混结构约40平方米，通风饲槽齐全，符合验收标准。"

COUNTY = ("620902000000", "肃州区")
# (code, name, reviewer, [(village code, name, cadre, households)])
TOWNSHIPS: list[tuple[str, str, str, list[tuple[str, str, str, int]]]] = [
    (
        "620902100000",
        "泉湖乡",
        "reviewer_quanhu",
        [
            ("620902100200", "四坝村", "cadre_sibacun", 48),
            ("620902100201", "泉湖村", "cadre_quanhucun", 30),
            ("620902100202", "花园村", "cadre_huayuancun", 24),
        ],
    ),
    (
        "620902101000",
        "东洞乡",
        "reviewer_dongdong",
        [
            ("620902101200", "四号村", "cadre_sihaocun", 44),
            ("620902101201", "东洞村", "cadre_dongdongcun", 28),
            ("620902101202", "石灰窑村", "cadre_shihuiyaocun", 22),
        ],
    ),
    (
        "620902102000",
        "总寨镇",
        "reviewer_zongzhai",
        [
            ("620902102200", "三奇堡村", "cadre_sanqibaocun", 30),
            ("620902102201", "沙河村", "cadre_shahecun", 22),
        ],
    ),
    (
        "620902103000",
        "丰乐乡",
        "reviewer_fengle",
        [
            ("620902103200", "涌泉村", "cadre_yongquancun", 28),
            ("620902103201", "大庄子村", "cadre_dazhuangzicun", 24),
        ],
    ),
]
COUNTY_USERS = [
    ("approver", Role.COUNTY_APPROVER),
    ("finance", Role.FINANCE_OFFICER),
    # A second finance officer: whoever checks a held card may not pay it.
    ("finance2", Role.FINANCE_OFFICER),
    ("inspector", Role.INSPECTOR),
]
# The county's microloan bank (seed 000: 甘肃农信) and its loan officer.
BANK = ("gsnx-suzhou", "甘肃农信肃州区联社")
BANK_OFFICER_USER = "xindai_gsnx"
# A second reviewer in 泉湖乡: the first is recused from a relative's application (rule 4),
# and someone else of the township must be able to take it.
SECOND_REVIEWER = ("reviewer_quanhu_b", "620902100000")


def county_places() -> list[Place]:
    """The county, its townships and their villages, parents first."""
    places = [Place(COUNTY[0], COUNTY[1])]
    for t_code, t_name, _reviewer, villages in TOWNSHIPS:
        places.append(Place(t_code, t_name, COUNTY[0]))
        places += [Place(v_code, v_name, t_code) for v_code, v_name, _c, _n in villages]
    return places


def county_grants() -> list[Grant]:
    """The officials of the county: one per role, the township reviewers (two in 泉湖乡)
    and one cadre per village; the inspector may also reveal ID numbers."""
    grants = [Grant(username, role, COUNTY[0]) for username, role in COUNTY_USERS]
    grants.append(Grant("inspector", REVEAL_PERMISSION, COUNTY[0]))
    grants.append(Grant(BANK_OFFICER_USER, Role.BANK_OFFICER, COUNTY[0], bank=BANK[0]))
    grants.append(Grant(SECOND_REVIEWER[0], Role.TOWNSHIP_REVIEWER, SECOND_REVIEWER[1]))
    for t_code, _t_name, reviewer, villages in TOWNSHIPS:
        grants.append(Grant(reviewer, Role.TOWNSHIP_REVIEWER, t_code))
        grants += [Grant(cadre, Role.VILLAGE_CADRE, v_code) for v_code, _v, cadre, _n in villages]
    return grants


# Weighted toward the surnames common in Hexi (河西) villages.
SURNAMES = (
    "王王王张张张李李李刘刘杨杨马马赵赵陈魏何徐孙朱胡郭高罗梁宋郑谢韩唐冯董萧程曹袁邓许"
    "傅沈曾彭吕苏卢蒋蔡贾丁薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱"
)
MALE_GIVEN = (
    "建国 建军 建华 志强 志明 志刚 永福 永强 永生 海军 海龙 德福 德胜 春生 文明 文华 玉林 "
    "国强 国庆 振华 金山 长青 富贵 成 军 斌 勇 明 亮 刚 林 涛 辉 峰 平 虎 龙 福 贵 生"
).split()
FEMALE_GIVEN = (
    "秀英 玉兰 桂花 淑珍 秀兰 凤英 玉梅 春花 翠兰 桂英 金花 小红 丽娟 海燕 玉霞 彩霞 "
    "红 霞 梅 芳 兰 英 凤 琴 娟 燕 萍 静"
).split()
CHILD_GIVEN = (
    "浩 宇 轩 博 鹏 杰 磊 鑫 强 晨 佳怡 欣怡 雨涵 梓涵 子轩 浩然 一鸣 思远 嘉豪 家乐 "
    "婷 雪 莉 悦 瑶 晶"
).split()

CAUSE_WEIGHTS = [
    (Household.Cause.CAPITAL, 30),
    (Household.Cause.SKILLS, 18),
    (Household.Cause.ILLNESS, 16),
    (Household.Cause.LABOUR, 10),
    (Household.Cause.DISABILITY, 8),
    (Household.Cause.SCHOOLING, 8),
    (Household.Cause.WATER, 4),
    (Household.Cause.DISASTER, 3),
    (Household.Cause.LAND, 3),
    (Household.Cause.MOTIVATION, 3),
    (Household.Cause.TRANSPORT, 2),
]
KIND_WEIGHTS = [
    (Household.Kind.GENERAL, 70),
    (Household.Kind.SUBSISTENCE, 24),
    (Household.Kind.EXTREME, 6),
]

OBJECTIONS = [
    "该户家里有一辆小轿车，条件比我们好，不应该享受补助。",
    "反映该户申报的羊只数量和实际养殖数量不符。",
    "该户儿子在城里买了楼房，家庭收入不低。",
    "该户圈舍是去年就建好的，不是今年新建的。",
    "评议会我没参加，听说名单是村里几个人定的，请乡上核实。",
]
DISMISSALS = [
    "经乡镇干部入户核实，车辆为亲戚所有，反映情况不属实，异议不成立。",
    "经现场清点，羊只数量与申报一致，异议不成立。",
    "经核实评议会到会人数符合要求，会议记录完整，异议不成立。",
]
UPHOLDINGS = [
    "经入户核实，该户已在城区购置住房，家庭收入超过扶贫标准，异议成立。",
    "经核实圈舍为往年已建，不属于本年度扶持范围，异议成立。",
]
RETURNS = [
    "民主评议记录缺少参会人员签字，请补充后重新提交。",
    "申报羊只数量与圈舍规模不符，请核实后修改。",
    "户主一卡通信息与身份证姓名不一致，请核实。",
]
REJECTIONS = [
    "该户已享受同类产业扶持项目，不得重复享受。",
    "入户核查发现该户家庭人均纯收入已超过扶贫标准。",
    "申报项目与该户实际情况不符，经集体研究不予扶持。",
]

# How many applications end in each state (about 69% of households apply, as in seed 000).
# 217 filings of 300 households, 10 of them withdrawn: 207 households applying, 69 %, as in
# seed 000 (1,634 of about 2,400).
PLAN: list[tuple[str, int]] = [
    ("draft", 18),
    ("submitted", 21),
    ("posted", 12),  # the window still open; some with an open objection
    ("posted_overdue", 10),  # the window passed, the timer has not run since
    ("township_review", 30),
    ("county_review", 20),
    ("approved", 20),
    ("disbursed", 50),
    ("returned_township", 8),
    ("returned_county", 5),
    ("rejected_objection", 5),
    ("rejected_township", 5),
    ("rejected_county", 3),
    ("withdrawn", 10),
]


# The days (from today, inclusive) an application heading for each state is filed, so that
# its last step falls before today and its posting window where the state needs it.
FILED_BETWEEN: dict[str, tuple[int, int]] = {
    "draft": (-10, -1),
    "submitted": (-8, -3),
    "posted": (-8, -3),  # window ends after today
    "posted_overdue": (-12, -10),  # window ends after the timer's last run, before today
    "township_review": (-25, -13),
    "county_review": (-30, -14),
    "approved": (-40, -15),
    "disbursed": (-58, -22),
    "returned_township": (-35, -13),
    "returned_county": (-35, -15),
    "rejected_objection": (-40, -6),
    "rejected_township": (-40, -13),
    "rejected_county": (-40, -15),
    "withdrawn": (-30, -6),
}


class SimulatedClock:
    """The time while the history is written: each step runs inside ``at(moment)``, which
    freezes ``common.clock.now()`` at that moment, or just after the step before if that
    was later: the ledger's times never go backwards, and two steps scheduled for the same
    minute keep their order (the timer closes postings by the time their window ends)."""

    TICK = timedelta(microseconds=1)

    def __init__(self, start: datetime) -> None:
        self._at = start - self.TICK

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        self._at = max(moment, self._at + self.TICK)
        with clock.frozen_at(self._at):
            yield


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    run: Callable[[], None] = field(compare=False)


@dataclass
class Filing:
    """One application's life, as the seed plays it."""

    household: Household
    village: str
    kind: str
    items: list[dict[str, Any]]
    app_id: int = 0
    objection_id: int = 0
    agreement_day: int | None = None  # the day (from today) its signed agreement is uploaded
    program_id: int = 0  # 0: the household industry subsidy


class Seeder:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.rng = random.Random(SEED)
        self.out = out
        self.now = timezone.localtime(clock.now())
        self.today = self.now.date()
        self.events: list[Event] = []
        self.users: dict[str, Any] = {}
        self.cadre_of: dict[str, str] = {}  # village code → username
        self.reviewer_of: dict[str, str] = {}  # township code → username
        self.used_ids: set[str] = set()
        self.counts: dict[str, int] = {}
        self.non_applicants: list[tuple[Household, str]] = []
        # The programs' parameters take effect on 1 January of the year the county started.
        self.programs_from = (self.today + timedelta(days=START)).replace(month=1, day=1)

    # --- the timeline ---------------------------------------------------------------

    def at(self, day: int, hour: int, minute: int | None = None) -> datetime:
        """A local time ``day`` days from today (negative: in the past)."""
        minute = self.rng.randrange(0, 50) if minute is None else minute
        local = datetime.combine(self.today + timedelta(days=day), clock_time(hour, minute))
        return timezone.make_aware(local)

    def schedule(self, at: datetime, run: Callable[[], None]) -> None:
        if at >= self.now:
            raise AssertionError(f"demo event in the future: {at}")
        heapq.heappush(self.events, Event(at, len(self.events), run))

    def play(self, simulated: SimulatedClock) -> None:
        while self.events:
            event = heapq.heappop(self.events)
            with simulated.at(event.at):
                event.run()

    # --- people and numbers -----------------------------------------------------------

    def name(self, male: bool, surname: str | None = None) -> str:
        surname = surname or self.rng.choice(SURNAMES)
        return surname + self.rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)

    def id_number(self, born: date, male: bool) -> str:
        while True:
            serial = self.rng.randrange(0, 100) * 10 + self.rng.choice(
                (1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8)
            )
            first17 = f"620902{born:%Y%m%d}{serial:03d}"
            if first17 not in self.used_ids:
                self.used_ids.add(first17)
                return first17 + id_check_digit(first17)

    def birth(self, first_year: int, last_year: int) -> date:
        start = date(first_year, 1, 1).toordinal()
        return date.fromordinal(self.rng.randint(start, date(last_year, 12, 31).toordinal()))

    def bank_card(self) -> str:
        # 622848: an Agricultural Bank of China debit card, the usual 一卡通 in the county.
        body = "622848" + "".join(str(self.rng.randrange(10)) for _ in range(12))
        return body + luhn_digit(body)

    def phone(self) -> str:
        if self.rng.random() < 0.08:
            return "0937" + "".join(str(self.rng.randrange(10)) for _ in range(7))
        prefix = self.rng.choice(["139", "138", "136", "151", "152", "157", "187", "189", "177"])
        return prefix + "".join(str(self.rng.randrange(10)) for _ in range(8))

    def weighted(self, pairs: list[tuple[Any, int]]) -> Any:
        return self.rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]

    def household_data(self, index: int, village: str) -> dict[str, Any]:
        """A household: head, spouse, children, sometimes an elderly parent. The first two
        are the families of seed 000."""
        if village == "620902100200" and index == 0:
            # 王怀玉 of 四坝村: husband disabled in a car accident, elderly parent, a son at
            # university; she farms, works and keeps the family.
            husband = self.name(True, "李")
            return {
                "head_name": "王怀玉",
                "head_id_number": self.id_number(date(1972, 3, 14), male=False),
                "household_type": Household.Kind.GENERAL,
                "poverty_causes": [Household.Cause.DISABILITY, Household.Cause.SCHOOLING],
                "members": [
                    {
                        "name": husband,
                        "id_number": self.id_number(date(1969, 8, 2), True),
                        "relation": "spouse",
                    },
                    {
                        "name": "李" + self.rng.choice(CHILD_GIVEN),
                        "id_number": self.id_number(date(1997, 10, 9), True),
                        "relation": "child",
                    },
                    {
                        "name": self.name(False, "李"),
                        "id_number": self.id_number(date(1941, 1, 23), False),
                        "relation": "parent",
                    },
                ],
            }
        if village == "620902101200" and index == 0:
            # 毛汉春 of 四号村: looks after his old mother, cannot go out to work.
            return {
                "head_name": "毛汉春",
                "head_id_number": self.id_number(date(1968, 5, 30), male=True),
                "household_type": Household.Kind.GENERAL,
                "poverty_causes": [Household.Cause.CAPITAL, Household.Cause.LABOUR],
                "members": [
                    {
                        "name": self.name(False),
                        "id_number": self.id_number(date(1938, 11, 5), False),
                        "relation": "parent",
                    }
                ],
            }
        male_head = self.rng.random() < 0.82
        surname = self.rng.choice(SURNAMES)
        head_born = self.birth(1950, 1990)
        members: list[dict[str, str]] = []
        father_surname = surname
        if self.rng.random() < 0.78:
            spouse_male = not male_head
            spouse_surname = self.rng.choice(SURNAMES)
            if spouse_male:
                father_surname = spouse_surname
            members.append(
                {
                    "name": self.name(spouse_male, spouse_surname),
                    "id_number": self.id_number(
                        self.birth(max(1945, head_born.year - 5), min(1992, head_born.year + 4)),
                        spouse_male,
                    ),
                    "relation": "spouse",
                }
            )
        for _ in range(self.weighted([(0, 2), (1, 4), (2, 4), (3, 1)])):
            first = head_born.year + 20
            if first > 2018:
                break
            male = self.rng.random() < 0.52
            members.append(
                {
                    "name": father_surname + self.rng.choice(CHILD_GIVEN),
                    "id_number": self.id_number(self.birth(first, min(2018, first + 14)), male),
                    "relation": "child",
                }
            )
        if head_born.year > 1960 and self.rng.random() < 0.3:
            parent_male = self.rng.random() < 0.4
            members.append(
                {
                    "name": self.name(parent_male, surname if parent_male else None),
                    "id_number": self.id_number(
                        self.birth(head_born.year - 34, head_born.year - 20), parent_male
                    ),
                    "relation": "parent",
                }
            )
        causes = {self.weighted(CAUSE_WEIGHTS)}
        if self.rng.random() < 0.45:
            causes.add(self.weighted(CAUSE_WEIGHTS))
        return {
            "head_name": self.name(male_head, surname),
            "head_id_number": self.id_number(head_born, male_head),
            "household_type": self.weighted(KIND_WEIGHTS),
            "poverty_causes": sorted(causes),
            "members": members,
        }

    # --- the registry -----------------------------------------------------------------

    def registry(self, simulated: SimulatedClock) -> list[tuple[Household, str]]:
        User = get_user_model()
        with simulated.at(self.at(START, 8, 30)):
            admin = User.objects.filter(username="admin").first()
            if admin is None:
                admin = User.objects.create_superuser("admin", "", DEMO_PASSWORD)
                audit_record(
                    actor=None,
                    action="user.create",
                    object_type="user",
                    object_id=admin.pk,
                    changes={"username": [None, "admin"], "is_superuser": [None, True]},
                )
        self.users["admin"] = admin
        for t_code, _t_name, reviewer, villages in TOWNSHIPS:
            self.reviewer_of[t_code] = reviewer
            for v_code, _v_name, cadre, _n in villages:
                self.cadre_of[v_code] = cadre

        with simulated.at(self.at(START, 9, 0)):
            places_create(actor=admin, places=county_places())
        with simulated.at(self.at(START, 9, 30)):
            if not Bank.objects.filter(code=BANK[0]).exists():
                bank_create(actor=admin, code=BANK[0], name=BANK[1])
        with simulated.at(self.at(START, 10, 0)):
            # One hash for all demo users (they share the published password anyway):
            # hashing it per user would cost most of the seed's time.
            self.users |= grants_give(
                actor=admin, grants=county_grants(), password_hash=make_password(DEMO_PASSWORD)
            )
        with simulated.at(self.at(START + 1, 9, 30)):
            for code, create in (
                (SUBSIDY_CODE, self.subsidy_program),
                (PEN_CODE, self.pen_program),
                (LOAN_CODE, self.loan_program),
                (EXIT_CODE, self.status_programs),
            ):
                if not Program.objects.filter(code=code).exists():
                    create(admin)

        households: list[tuple[Household, str]] = []
        day = START + 4
        for _t_code, _t_name, _reviewer, villages in TOWNSHIPS:
            for v_code, _v_name, cadre, count in villages:
                for index in range(count):
                    data = self.household_data(index, v_code)
                    if index % 8 == 0:
                        day = min(day + 1, START + 18)
                    with simulated.at(self.at(day, self.rng.randrange(8, 18))):
                        household = household_create(
                            actor=self.users[cadre],
                            area_code=v_code,
                            bank_card=self.bank_card(),
                            phone=self.phone(),
                            **data,
                        )
                    households.append((household, v_code))
        return households

    def status_programs(self, admin: Actor) -> None:
        status_programs_create(
            actor=admin, county_code=COUNTY[0], effective_from=self.programs_from
        )

    def subsidy_program(self, admin: Actor) -> None:
        subsidy_program_create(
            actor=admin,
            county_code=COUNTY[0],
            # Seed 000: 952.7万元 raised from city, district and township sources.
            budget=Decimal("9527000.00"),
            effective_from=self.programs_from,
        )

    def pen_program(self, admin: Actor) -> None:
        """Pens built first and subsidised after (先建后补): the township accepts each one
        before payment, and the county re-checks a fifth of them."""
        program_create(
            actor=admin,
            code=PEN_CODE,
            name="圈舍建设补助（先建后补）",
            kind=Program.Kind.SUBSIDY,
            county_code=COUNTY[0],
            budget=Decimal("600000.00"),
            effective_from=self.programs_from,
            policy_reference="《肃州区贫困户圈舍建设先建后补实施办法》",
            household_cap=Decimal("3000.00"),
            posting_days=7,
            items=[{**PEN, "max_quantity": 1}],
            acceptance_required=True,
            acceptance_sample_percent=20,
        )

    def loan_program(self, admin: Actor) -> None:
        loan_program_create(
            actor=admin,
            county_code=COUNTY[0],
            # Seed 000: 3913万元 of loans planned.
            budget=Decimal("39130000.00"),
            effective_from=self.programs_from,
            policy_reference="银监发〔2017〕42号；《肃州区精准扶贫小额贷款实施方案》",
        )

    # --- the applications ----------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        roll = self.rng.random()
        if roll < 0.6:
            return [{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 10}]
        if roll < 0.85:
            return [
                {"item": "pen", "quantity": 1},
                {"item": "sheep", "quantity": self.rng.randint(3, 9)},
            ]
        return [{"item": "sheep", "quantity": self.rng.choice([10, 15, 20, 25])}]

    def filings(self, households: list[tuple[Household, str]]) -> list[Filing]:
        kinds = [k for k, n in PLAN for _ in range(n)]
        seeded = [h for h in households if h[0].head_name in ("王怀玉", "毛汉春")]
        rest = [h for h in households if h not in seeded]
        self.rng.shuffle(rest)
        chosen = rest[: len(kinds) - len(seeded)]
        # Seed 000: 王怀玉 built a pen and bought sheep (3000 + 10 × 200 yuan).
        first = {"王怀玉": "disbursed", "毛汉春": "approved"}
        full = [{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 10}]
        filings = [Filing(h, v, first[h.head_name], full) for h, v in seeded]
        for household, _village in seeded:
            kinds.remove(first[household.head_name])
        self.rng.shuffle(kinds)
        filings += [Filing(h, v, k, self.items()) for (h, v), k in zip(chosen, kinds, strict=True)]
        # A few households leave poverty before the round starts (not among the applicants).
        # Two of them in 四坝村 and two in its township, so that its cadre and its reviewer
        # see exits and returns at work.
        remaining = rest[len(chosen) :]
        ours = [h for h in remaining if h[1] == "620902100200"][:2]
        near = [h for h in remaining if h[1][:9] == "620902100" and h not in ours][:2]
        leaving = ours + near
        leaving += [h for h in remaining if h not in leaving][: 6 - len(leaving)]
        for household, village in leaving:
            self.exit_household(household, village, -58)
        # Two of them are at risk again (返贫监测): one waits for the county with three days
        # left of its fifteen, the other is in the township's review, five days overdue.
        self.return_household(*leaving[0], day=-12, steps=5)
        self.return_household(*leaving[2], day=-20, steps=4)
        self.non_applicants = [h for h in remaining if h not in leaving]
        return filings

    # --- red flags (DOMAIN rules 4 and 5) -------------------------------------------------

    def red_flags(self, filings: list[Filing]) -> None:
        """What the demo shows inspectors: officials who declared their own ID numbers, a
        township reviewer whose brother's application waits in review (flagged, recused; the
        township's second reviewer takes it), and two approved payments held for a card
        check: one card shared with another household, one changed yesterday."""
        self.schedule(self.at(-70, 16), self.declare_own_numbers)
        in_review = [
            f for f in filings if f.kind == "township_review" and f.village.startswith("620902100")
        ]
        approved = [f for f in filings if f.kind == "approved"]
        if in_review:
            self.schedule(self.at(-1, 9), self.declare_brother(in_review[0]))
        if len(approved) >= 2 and self.non_applicants:
            self.schedule(self.at(-1, 10), self.share_card(approved[0], self.non_applicants[0]))
            self.schedule(self.at(-1, 11), self.change_card(approved[1]))

    def loans(self, filings: list[Filing]) -> None:
        """The microloans (``demo.loan_story``): 毛汉春's two cows and households that applied
        for no subsidy, beyond those the red flags and the pens use."""
        from demo.loan_story import LoanStory

        maohanchun = next(f for f in filings if f.household.head_name == "毛汉春")
        LoanStory(self, COUNTY[0], START).plan(maohanchun, self.non_applicants[13:])

    def agreement_upload(self, filing: Filing) -> Callable[[], None]:
        return lambda: self.upload_agreement(filing)

    def regular_rounds(self, filings: list[Filing]) -> None:
        """The county pays every four days: the finance officer draws up a round at 14:00 of
        the applications whose signed agreements are in, the county approver approves it,
        the bank file goes out, and the bank's return file the next morning pays them all."""
        due = [f for f in filings if f.agreement_day is not None]
        paid: set[int] = set()
        # The last regular round is answered five days ago, before the rounds of
        # ``payment_rounds`` draw up what is left.
        for day in range(-42, -5, 4):
            batch = [
                f
                for f in due
                if f.agreement_day is not None and f.agreement_day <= day and id(f) not in paid
            ]
            if not batch:
                continue
            paid.update(id(f) for f in batch)
            state: dict[str, PaymentRound] = {}

            def draw(batch: list[Filing] = batch, state: dict[str, PaymentRound] = state) -> None:
                finance = self.users["finance"]
                round_ = payment_round_create(
                    actor=finance,
                    program_id=self.subsidy.pk,
                    area_code=COUNTY[0],
                    application_ids=[f.app_id for f in batch],
                )
                payment_round_approve(actor=self.users["approver"], round_id=round_.pk)
                bank_file_export(actor=finance, round_id=round_.pk)
                state["round"] = round_

            def answer(state: dict[str, PaymentRound] = state) -> None:
                round_ = state["round"]
                data = bank_return_file(round_, {})
                bank_return_import(actor=self.users["finance"], round_id=round_.pk, data=data)

            self.schedule(self.at(day, 14, 0), draw)
            self.schedule(self.at(day + 1, 10, 0), answer)

    def payment_rounds(self, filings: list[Filing]) -> None:
        """Money through the bank: eight approved applications get their signed agreements,
        the finance officer draws up a county round two days ago, the county approver approves
        it, the bank file goes out and the bank answers: two lines fail (户名不符,
        账户已销户). The household whose account was closed brings a new card yesterday; the
        county approver checks it, and a second round pays it. The name mismatch waits."""
        approved = [f for f in filings if f.kind == "approved"][2:10]
        if len(approved) < 2:
            return
        for n, filing in enumerate(approved):
            self.schedule(self.at(-3, 9, n), self.agreement_upload(filing))
        state: dict[str, Any] = {}

        def first_round() -> None:
            state["first"] = payment_round_create(
                actor=self.users["finance"], program_id=self.subsidy.pk, area_code=COUNTY[0]
            )

        def approve(key: str) -> Callable[[], None]:
            def run() -> None:
                payment_round_approve(actor=self.users["approver"], round_id=state[key].pk)

            return run

        def send(key: str) -> Callable[[], None]:
            def run() -> None:
                bank_file_export(actor=self.users["finance"], round_id=state[key].pk)

            return run

        def answer(key: str, failures: dict[str, tuple[str, str]]) -> Callable[[], None]:
            def run() -> None:
                round_ = state[key]
                # The filings' application ids are known once they were filed.
                by_id = {failing[name].app_id: result for name, result in failures.items()}
                data = bank_return_file(round_, by_id)
                bank_return_import(actor=self.users["finance"], round_id=round_.pk, data=data)

            return run

        closed, mismatch = approved[0], approved[1]
        failing = {"closed": closed, "mismatch": mismatch}

        def new_card() -> None:
            household_update(
                actor=self.cadre(closed),
                household_id=closed.household.pk,
                bank_card=self.bank_card(),
            )

        def check_card() -> None:
            card_check_record(
                actor=self.users["approver"],
                application_id=closed.app_id,
                reason="新开一卡通，已与户主本人核实",
            )

        def second_round() -> None:
            state["second"] = payment_round_create(
                actor=self.users["finance"], program_id=self.subsidy.pk, area_code=COUNTY[0]
            )

        self.schedule(self.at(-2, 10, 0), first_round)
        self.schedule(self.at(-2, 11, 0), approve("first"))
        self.schedule(self.at(-2, 11, 30), send("first"))
        failures = {"closed": ("3001", "账户已销户"), "mismatch": ("3002", "户名不符")}
        self.schedule(self.at(-1, 9, 0), answer("first", failures))
        self.schedule(self.at(-1, 9, 30), new_card)
        self.schedule(self.at(-1, 10, 30), check_card)
        self.schedule(self.at(-1, 14, 0), second_round)
        self.schedule(self.at(-1, 14, 30), approve("second"))
        self.schedule(self.at(-1, 15, 0), send("second"))
        self.schedule(self.at(-1, 17, 0), answer("second", {}))

    def pen_acceptance(self) -> None:
        """The pen program (先建后补): twelve households build pens and are approved; the
        townships visit the pens a week ago (one fails: unfinished; one is not visited
        yet); the county draws its sample of a fifth and re-checks one; a round pays the
        accepted pens that are not waiting on the county's re-check."""
        pen = Program.objects.get(code=PEN_CODE)
        builders = self.non_applicants[1:13]
        filings = [
            Filing(h, v, "approved", [{"item": "pen", "quantity": 1}], program_id=pen.pk)
            for h, v in builders
        ]
        for n, filing in enumerate(filings):
            c = -44 + n
            for day, hour, run in self.steps(filing, c):
                self.schedule(self.at(c + day, hour), run)
            self.schedule(self.at(c + 16, 9), self.agreement_upload(filing))
        if len(filings) < 3:
            return

        def visit(filing: Filing, result: str, notes: str) -> Callable[[], None]:
            def run() -> None:
                acceptance_record(
                    actor=self.reviewer(filing),
                    application_id=filing.app_id,
                    result=result,
                    notes=notes,
                    photos=[ContentFile(pen_photo(filing.app_id), name="圈舍.png")],
                )

            return run

        failed, unvisited, *accepted = filings
        self.schedule(
            self.at(-8, 10, 0),
            visit(failed, "failed", "圈舍未封顶，饲槽未安装，未达到验收标准。"),
        )
        for n, filing in enumerate(accepted):
            self.schedule(
                self.at(-8, 11, n),
                visit(
                    filing, "passed", "圈舍已建成，砖混结构约40平方米，通风饲槽齐全，符合验收标准。"
                ),
            )
        state: dict[str, Any] = {}

        def sample() -> None:
            state["sample"] = acceptance_sample_draw(
                actor=self.users["approver"], program_id=pen.pk, area_code=COUNTY[0]
            )

        def recheck() -> None:
            first = state["sample"].items.order_by("application_id").first()
            acceptance_recheck(
                actor=self.users["approver"],
                application_id=first.application_id,
                result="passed",
                notes="县级抽查入户复核：与乡镇验收记录一致。",
            )

        def pay() -> None:
            finance = self.users["finance"]
            round_ = payment_round_create(actor=finance, program_id=pen.pk, area_code=COUNTY[0])
            payment_round_approve(actor=self.users["approver"], round_id=round_.pk)
            bank_file_export(actor=finance, round_id=round_.pk)
            state["round"] = round_

        def answer() -> None:
            round_ = state["round"]
            data = bank_return_file(round_, {})
            bank_return_import(actor=self.users["finance"], round_id=round_.pk, data=data)

        self.schedule(self.at(-6, 10, 0), sample)
        self.schedule(self.at(-5, 15, 0), recheck)
        self.schedule(self.at(-4, 10, 0), pay)
        self.schedule(self.at(-3, 10, 0), answer)

    def declare_own_numbers(self) -> None:
        for username in ("reviewer_quanhu", "approver", "finance"):
            user = self.users[username]
            male = self.rng.random() < 0.6
            kin_declare(
                actor=user,
                official_id=user.pk,
                relation=KinDeclaration.Relation.SELF,
                name=self.name(male),
                id_number=self.id_number(self.birth(1968, 1988), male),
            )

    def declare_brother(self, filing: Filing) -> Callable[[], None]:
        def run() -> None:
            head = filing.household.members.get(relation="head")
            reviewer = self.users[self.reviewer_of[filing.village[:9] + "000"]]
            kin_declare(
                actor=reviewer,
                official_id=reviewer.pk,
                relation=KinDeclaration.Relation.SIBLING,
                name=head.name,
                id_number=idnumbers.decrypt(head.id_cipher),
            )

        return run

    def share_card(self, filing: Filing, other: tuple[Household, str]) -> Callable[[], None]:
        def run() -> None:
            self.upload_agreement(filing)
            household, village = other
            household_update(
                actor=self.users[self.cadre_of[village]],
                household_id=household.pk,
                bank_card=idnumbers.decrypt(filing.household.bank_card_cipher),
                bank_card_holder=household.head_name,
            )

        return run

    def change_card(self, filing: Filing) -> Callable[[], None]:
        def run() -> None:
            self.upload_agreement(filing)
            household_update(
                actor=self.cadre(filing),
                household_id=filing.household.pk,
                bank_card=self.bank_card(),
                bank_card_holder=filing.household.head_name,
            )

        return run

    def exit_household(self, household: Household, village: str, day: int) -> None:
        """An exit from poverty (脱贫销号) through its chain, concluded by the county on
        ``day``: proposed with the year's income fifteen days before, appraised, the head's
        confirmation uploaded, posted seven days, then the township and the county."""
        filing = Filing(household, village, "exit", [], program_id=self.exit_program.pk)
        income = Decimal(self.rng.randrange(4600, 9800))

        def propose() -> None:
            filing.app_id = application_create(
                actor=self.cadre(filing),
                household_id=household.pk,
                program_id=filing.program_id,
                change={
                    "income_per_capita": income,
                    "income_year": (self.today + timedelta(days=day - 15)).year - 1,
                    "visit_date": self.today + timedelta(days=day - 16),
                },
            ).pk

        def confirm() -> None:
            attachment_add(
                actor=self.cadre(filing),
                application_id=filing.app_id,
                kind=Attachment.Kind.EXIT_CONFIRMATION,
                file=ContentFile(
                    signed_scan(filing.app_id), name=f"户主确认书-{filing.app_id}.pdf"
                ),
            )

        self.schedule(self.at(day - 15, 9), propose)
        self.schedule(self.at(day - 14, 18), lambda: self.appraise(filing, day - 14))
        self.schedule(self.at(day - 14, 19), confirm)
        self.schedule(self.at(day - 13, 9), lambda: self.move(filing, "submit"))
        self.schedule(self.at(day - 13, 10), lambda: self.move(filing, "start_posting"))
        reviewer = self.users[self.reviewer_of[village[:9] + "000"]]
        self.schedule(
            self.at(day - 2, 14), lambda: self.move(filing, "township_approve", actor=reviewer)
        )
        self.schedule(
            self.at(day, 15),
            lambda: self.move(filing, "county_approve", actor=self.users["approver"]),
        )

    def return_household(self, household: Household, village: str, day: int, steps: int) -> None:
        """A risk signal on an exited household (返贫监测) on ``day``, taken ``steps`` steps
        along its chain: 1 filed, 4 posted (the timer then closes the posting into the
        township's review), 5 approved by the township."""
        filing = Filing(household, village, "return", [], program_id=self.return_program.pk)

        def signal() -> None:
            filing.app_id = application_create(
                actor=self.cadre(filing),
                household_id=household.pk,
                program_id=filing.program_id,
                change={"risk_cause": "illness", "risk_date": self.today + timedelta(days=day)},
            ).pk

        reviewer = self.users[self.reviewer_of[village[:9] + "000"]]
        plan: list[tuple[int, int, Callable[[], None]]] = [
            (0, 16, signal),
            (1, 18, lambda: self.appraise(filing, day + 1)),
            (2, 9, lambda: self.move(filing, "submit")),
            (2, 10, lambda: self.move(filing, "start_posting")),
            (9, 14, lambda: self.move(filing, "township_approve", actor=reviewer)),
        ]
        for offset, hour, run in plan[:steps]:
            self.schedule(self.at(day + offset, hour), run)

    def plan(self, filing: Filing) -> None:
        """Schedule one application's steps. Day 0 is the day it is filed; the democratic
        appraisal meets the next day; posting starts on day 2 and its window ends on day 9;
        the nightly timer closes it; the township decides on day 11, the county on day 13;
        the signed agreement comes in on day 16 and the next regular round pays it."""
        kind = filing.kind
        start, end = FILED_BETWEEN[kind]
        c = self.rng.randint(start, end)
        for day, hour, run in self.steps(filing, c):
            self.schedule(self.at(c + day, hour), run)

    def steps(self, filing: Filing, c: int) -> list[tuple[int, int, Callable[[], None]]]:
        kind, rng = filing.kind, self.rng
        steps: list[tuple[int, int, Callable[[], None]]] = []

        def step(day: int, hour: int, run: Callable[[], None]) -> None:
            steps.append((day, hour, run))

        step(0, 9, lambda: self.create(filing))
        if kind == "draft":
            if c + 1 <= -1 and rng.random() < 0.5:
                step(1, 18, lambda: self.appraise(filing, c + 1))
            return steps
        step(1, 18, lambda: self.appraise(filing, c + 1))
        if kind == "withdrawn":
            stage = rng.choice(["draft", "submitted", "posted", "posted"])
            if stage != "draft":
                step(2, 9, lambda: self.move(filing, "submit"))
            if stage == "posted":
                step(2, 10, lambda: self.move(filing, "start_posting"))
            step(3, 16, lambda: self.move(filing, "withdraw", "户主外出务工，本人申请撤回。"))
            return steps
        step(2, 9, lambda: self.move(filing, "submit"))
        if kind == "submitted":
            return steps
        step(2, 10, lambda: self.move(filing, "start_posting"))
        if kind == "posted":
            if c + 3 <= -1 and rng.random() < 0.4:
                step(3, 20, lambda: self.object(filing))
            return steps
        if kind == "posted_overdue":
            if rng.random() < 0.35:
                step(4, 20, lambda: self.object(filing))
            return steps
        if kind == "rejected_objection":
            step(3, 19, lambda: self.object(filing))
            step(5, 15, lambda: self.resolve(filing, upheld=True))
            return steps
        roll = rng.random()
        if roll < 0.12:
            step(4, 20, lambda: self.object(filing))
            step(6, 11, lambda: self.resolve(filing, upheld=False))  # inside the window
        elif roll < 0.25 and kind in ("township_review", "county_review"):
            step(4, 20, lambda: self.object(filing))
            # After the window: the dismissal closes the posting at once.
            step(10, 11, lambda: self.resolve(filing, upheld=False))
        township, county = self.reviewer(filing), self.users["approver"]
        later = 0
        # Returned once for correction, corrected, posted again and round again: eleven more
        # days, so only for applications filed early enough.
        # (Never seed 000's two families: their applications are the article's, unchanged.)
        if (
            c <= {"disbursed": -33, "county_review": -24}.get(kind, -99)
            and rng.random() < 0.4
            and filing.household.head_name not in ("王怀玉", "毛汉春")
        ):
            step(11, 10, lambda: self.move(filing, "return", rng.choice(RETURNS), township))
            step(12, 17, lambda: self.correct(filing))
            step(13, 9, lambda: self.move(filing, "submit"))
            step(13, 10, lambda: self.move(filing, "start_posting"))
            later = 11
        if kind == "township_review":
            return steps
        if kind in ("returned_township", "rejected_township"):
            name, reasons = decision_of(kind)
            step(11, 14, lambda: self.move(filing, name, rng.choice(reasons), township))
            return steps
        step(11 + later, 14, lambda: self.move(filing, "township_approve", actor=township))
        if kind == "county_review":
            return steps
        if kind in ("returned_county", "rejected_county"):
            name, reasons = decision_of(kind)
            step(13, 15, lambda: self.move(filing, name, rng.choice(reasons), county))
            return steps
        step(13 + later, 15, lambda: self.move(filing, "county_approve", actor=county))
        if kind == "disbursed":
            # Payment waits for the scan of the signed agreement, uploaded by the cadre; the
            # next of the county's regular rounds pays it (``regular_rounds``).
            step(16 + later, 9, lambda: self.upload_agreement(filing))
            filing.agreement_day = c + 16 + later
        return steps

    # --- the steps (each one service call) --------------------------------------------

    def cadre(self, filing: Filing) -> Any:
        return self.users[self.cadre_of[filing.village]]

    def reviewer(self, filing: Filing) -> Any:
        return self.users[self.reviewer_of[filing.village[:9] + "000"]]

    def create(self, filing: Filing) -> None:
        app = application_create(
            actor=self.cadre(filing),
            household_id=filing.household.pk,
            program_id=filing.program_id or self.subsidy.pk,
            items=filing.items,
        )
        filing.app_id = app.pk

    def appraise(self, filing: Filing, day: int) -> None:
        attendees = self.rng.randint(28, 64)
        against = self.rng.randint(0, 3)
        application_edit(
            actor=self.cadre(filing),
            application_id=filing.app_id,
            appraisal_date=self.today + timedelta(days=day),
            appraisal_attendees=attendees,
            appraisal_votes_for=attendees - against - self.rng.randint(0, 2),
            appraisal_votes_against=against,
        )

    def correct(self, filing: Filing) -> None:
        application_edit(
            actor=self.cadre(filing),
            application_id=filing.app_id,
            items=[{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 8}],
        )

    def move(self, filing: Filing, name: str, reason: str = "", actor: Actor = None) -> None:
        """A step by ``actor`` (the village cadre unless named)."""
        application_transition(
            actor=actor or self.cadre(filing),
            application_id=filing.app_id,
            name=name,
            reason=reason,
        )

    def upload_agreement(self, filing: Filing) -> None:
        attachment_add(
            actor=self.cadre(filing),
            application_id=filing.app_id,
            kind=Attachment.Kind.SIGNED_AGREEMENT,
            file=ContentFile(signed_scan(filing.app_id), name=f"协议书扫描件-{filing.app_id}.pdf"),
        )

    def object(self, filing: Filing) -> None:
        text = self.rng.choice(OBJECTIONS)
        if self.rng.random() < 0.5:
            # On the notice board, anonymously.
            objection = objection_raise(
                actor=AnonymousUser(), application_id=filing.app_id, text=text, public=True
            )
        else:
            # Told to the cadre, who records it.
            objection = objection_raise(
                actor=self.cadre(filing),
                application_id=filing.app_id,
                text=text,
                raised_by_name="村民" + self.rng.choice(SURNAMES) + "某",
            )
        filing.objection_id = objection.pk

    def resolve(self, filing: Filing, *, upheld: bool) -> None:
        objection_resolve(
            actor=self.reviewer(filing),
            objection_id=filing.objection_id,
            upheld=upheld,
            reason=self.rng.choice(UPHOLDINGS if upheld else DISMISSALS),
        )

    def timer(self, day: int) -> None:
        def run() -> None:
            postings_close_due(now=clock.now())

        self.schedule(self.at(day, 1, 0), run)

    # --- the whole ----------------------------------------------------------------------

    def run(self) -> None:
        simulated = SimulatedClock(self.at(START, 8, 0))
        with transaction.atomic():
            households = self.registry(simulated)
            self.subsidy = Program.objects.get(code=SUBSIDY_CODE)
            self.exit_program = Program.objects.get(code=EXIT_CODE)
            self.return_program = Program.objects.get(code=RETURN_CODE)
            filings = self.filings(households)
            for filing in filings:
                self.plan(filing)
            self.red_flags(filings)
            self.loans(filings)
            self.regular_rounds(filings)
            self.payment_rounds(filings)
            self.pen_acceptance()
            # The nightly timer ran until three days ago (since then the demo sat idle:
            # `process_timers` will close the postings whose window has passed meanwhile).
            for day in range(-60, -2):
                self.timer(day)
            self.play(simulated)
            crosschecks = crosscheck_story(COUNTY[0], self.users["inspector"], self.rng)()
            registry_story(self.users["cadre_sibacun"], self.rng)
        counts = dict.fromkeys(Application.Status.values, 0)
        for status in Application.objects.filter(area_code__startswith=COUNTY[0][:6]).values_list(
            "status", flat=True
        ):
            counts[status] += 1
        self.out(
            f"{len(households)} households, "
            + ", ".join(f"{status} {n}" for status, n in counts.items())
        )
        rounds = PaymentRound.objects.order_by("pk")
        self.out(
            "payment rounds: "
            + ", ".join(
                f"{r.reference} {r.get_status_display()} "
                f"({r.lines.filter(status='paid').count()} paid, "
                f"{r.lines.filter(status='failed').count()} failed)"
                for r in rounds
            )
        )
        self.out(loans_summary())
        visits = Acceptance.objects.all()
        sampled = SampledAcceptance.objects.all()
        self.out(
            f"acceptance (先建后补): {visits.count()} visit(s), "
            f"{visits.filter(result='failed').count()} failed; county sample of "
            f"{sampled.count()}, {sampled.exclude(result='').count()} re-checked"
        )
        self.out(
            f"red flags: {KinFlag.objects.count()} kin flag(s), "
            f"{KinDeclaration.objects.count()} kin declaration(s), "
            f"{CardCheck.objects.count()} card check(s)"
        )
        self.out(crosschecks)


def bank_return_file(round_: PaymentRound, failures: dict[int, tuple[str, str]]) -> bytes:
    """What the bank sends back for a round (回盘文件, GB18030): every line paid at the amount
    sent, but the applications in ``failures`` (application id → result code and text)."""
    rows = []
    total = Decimal("0.00")
    for n, line in enumerate(round_.lines.exclude(status="withdrawn").order_by("reference")):
        code, text = failures.get(line.application_id, ("0000", "交易成功"))
        card = idnumbers.decrypt(line.card_cipher)
        rows.append(
            f"D|{line.reference}|{line.payee_name}|{card}|{line.amount:.2f}|{code}|{text}|"
            f"{'' if code != '0000' else f'95588{round_.pk:04d}{n:06d}'}"
        )
        total += line.amount
    header = (
        f"H|{round_.reference}|{timezone.localdate(clock.now()):%Y%m%d}|{len(rows)}|{total:.2f}"
    )
    return ("\r\n".join([header, *rows]) + "\r\n").encode("gb18030")


def pen_photo(application_id: int) -> bytes:
    """A small picture of a pen for the acceptance visit's record (a real PNG: brick walls
    and a roof, drawn in a few rectangles; the application's number varies the roof)."""
    import struct
    import zlib

    width, height = 48, 32
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            if y < 10 - (application_id % 4):
                pixel = (135, 190, 235)  # sky
            elif y < 14:
                pixel = (150, 40, 30)  # roof
            elif 20 <= y < 30 and 18 <= x < 30:
                pixel = (60, 40, 20)  # door
            else:
                pixel = (190, 110, 70) if (x // 4 + y // 3) % 2 else (170, 95, 60)  # bricks
            row.extend(pixel)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def signed_scan(application_id: int) -> bytes:
    """A stand-in for the scanner's PDF: a real one-page PDF, one per application."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"demo scan of the signed agreement {application_id}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def decision_of(kind: str) -> tuple[str, list[str]]:
    return ("return", RETURNS) if kind.startswith("returned") else ("reject", REJECTIONS)


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        digit = int(ch) * (2 if i % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def demo_loaded() -> bool:
    return Program.objects.filter(code=SUBSIDY_CODE).exists()


def demo_seed(out: Callable[[str], None]) -> None:
    """Write the demo county's history (one transaction), reporting through ``out``."""
    Seeder(out).run()


def demo_users() -> list[tuple[str, str, str]]:
    """(username, role, area) of every demo user, as the command lists them."""
    names = {a.code: a.name for a in Area.objects.filter(code__startswith=COUNTY[0][:6])}
    rows = [("admin", "superuser", "everywhere")]
    rows += [(u, str(r), f"{COUNTY[1]} {COUNTY[0]}") for u, r in COUNTY_USERS]
    rows[-1] = (rows[-1][0], f"{rows[-1][1]} + {REVEAL_PERMISSION}", rows[-1][2])
    rows.append(
        (BANK_OFFICER_USER, f"{Role.BANK_OFFICER.value} ({BANK[1]})", f"{COUNTY[1]} {COUNTY[0]}")
    )
    for t_code, t_name, reviewer, villages in TOWNSHIPS:
        rows.append((reviewer, Role.TOWNSHIP_REVIEWER.value, f"{t_name} {t_code}"))
        if t_code == SECOND_REVIEWER[1]:
            rows.append((SECOND_REVIEWER[0], Role.TOWNSHIP_REVIEWER.value, f"{t_name} {t_code}"))
        for v_code, _v, cadre, _n in villages:
            rows.append((cadre, Role.VILLAGE_CADRE.value, f"{names.get(v_code, '')} {v_code}"))
    return rows
