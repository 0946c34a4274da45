"""Test data, made through the services (one way in): what a test builds is what the app
would have built, audit entries included. The places, officials and programs are built by
the one world builder (``demo.world``), from the tests' own names."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import connection, connections

from applications import idnumbers
from applications.idnumbers import id_check_digit
from applications.models import Application, Household, KinDeclaration, Program
from applications.roles import Role, prefix_of_code
from applications.services import household_create, kin_declare, role_grant
from approvals.models import Attachment
from approvals.services.attachments import attachment_add
from approvals.services.filing import application_create, application_edit
from approvals.services.transitions import application_transition, posting_close_if_due
from audit.models import AuditEntry
from common import clock
from demo.world import (
    EXIT_CODE,
    PEN,
    RETURN_CODE,
    SHEEP,
    SUBSIDY_CODE,
    Grant,
    Place,
    grants_give,
    places_create,
    status_programs_create,
    subsidy_program_create,
    users_get,
)
from payments.models import PaymentRound
from payments.services.bank_files import bank_file_export, bank_return_import
from payments.services.rounds import payment_round_approve, payment_round_create

_serial = itertools.count(1)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = ["建国", "秀英", "桂兰", "志强", "玉梅", "国庆", "海燕", "红霞", "永福", "春花"]


def id_number(area6: str = "620902", serial: int | None = None) -> str:
    """A valid 18-character resident ID number (GB 11643 check digit), unique per call."""
    n = next(_serial) if serial is None else serial
    birth = date(1960, 1, 1) + timedelta(days=n)
    first17 = f"{area6}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def with_wrong_check_digit(number: str) -> str:
    """The same number with a check digit that does not match."""
    wrong = next(c for c in "0123456789X" if c != number[17])
    return number[:17] + wrong


def bank_card_number() -> str:
    return f"6217{next(_serial):012d}"


def person_name() -> str:
    n = next(_serial)
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]


def make_household(*, actor: Any, area_code: str = "620902100200", **fields: Any) -> Household:
    """Register a household through ``household_create`` (the actor must be the village's
    cadre); every field has a valid default, ``fields`` override them."""
    values: dict[str, Any] = {
        "head_name": person_name(),
        "head_id_number": id_number(area_code[:6]),
        "bank_card": bank_card_number(),
        "phone": "13809370000",
        "household_type": Household.Kind.GENERAL,
        "poverty_causes": [Household.Cause.CAPITAL],
        "members": [],
    }
    values.update(fields)
    return household_create(actor=actor, area_code=area_code, **values)


def declare_kin(
    *, official: Any, relation: str, id_number: str, name: str = "王亲属"
) -> KinDeclaration:
    """The official declares their own number (``relation="self"``) or a relative's, through
    ``kin_declare``."""
    return kin_declare(
        actor=official,
        official_id=official.pk,
        relation=relation,
        name=name,
        id_number=id_number,
    )


def colleague(username: str, role: str, area_code: str) -> Any:
    """A second holder of a role on an area (someone else who can act when one is
    recused), granted through ``role_grant``; signs in with ``password_of(username)``."""
    user, _granted = role_grant(
        actor=None,
        username=username,
        role=role,
        area_code=area_code,
        password=password_of(username),
    )
    return user


DEFAULT_ITEMS = [{"item": "pen", "quantity": 1}, {"item": "sheep", "quantity": 5}]  # 4000 yuan


def make_application(
    *,
    actor: Any,
    household_id: int,
    program_id: int,
    items: list[dict[str, Any]] | None = None,
) -> Application:
    """File a draft through ``application_create``; by default one pen and five sheep."""
    return application_create(
        actor=actor,
        household_id=household_id,
        program_id=program_id,
        items=DEFAULT_ITEMS if items is None else items,
    )


# The seed 000 items without the demo's per-item limits: in tests only the household cap
# bounds an application (over-cap tests file 26 sheep).
SEED_PROGRAM_ITEMS = [PEN, SHEEP]


def seed_program(
    *, county_code: str, code: str = SUBSIDY_CODE, budget: Decimal = Decimal("1000000.00")
) -> Program:
    """The household industry subsidy of seed 000 (``demo.world``): 5000 yuan per
    household, a pen 3000 yuan, a sheep 200 yuan; seven days of posting."""
    return subsidy_program_create(
        actor=None,
        county_code=county_code,
        code=code,
        budget=budget,
        effective_from=date(2016, 1, 1),
        policy_reference="肃州区到户产业扶持资金管理办法（seed 000）",
        items=SEED_PROGRAM_ITEMS,
    )


# --- the places and people of the tests ----------------------------------------------------

COUNTY = "620902000000"  # 肃州区
TOWNSHIP_1 = "620902100000"  # 泉湖乡
TOWNSHIP_2 = "620902101000"  # 东洞乡
VILLAGE_1 = "620902100200"  # 四坝村
VILLAGE_2 = "620902100201"  # 泉湖乡, a second village
VILLAGE_3 = "620902101200"  # 四号村 (东洞乡)
COUNTY_B = "620903000000"
TOWNSHIP_B = "620903100000"
VILLAGE_B = "620903100200"

AREAS = [
    Place(COUNTY, "肃州区"),
    Place(TOWNSHIP_1, "泉湖乡", COUNTY),
    Place(TOWNSHIP_2, "东洞乡", COUNTY),
    Place(VILLAGE_1, "四坝村", TOWNSHIP_1),
    Place(VILLAGE_2, "泉湖村", TOWNSHIP_1),
    Place(VILLAGE_3, "四号村", TOWNSHIP_2),
    Place(COUNTY_B, "邻县"),
    Place(TOWNSHIP_B, "邻乡", COUNTY_B),
    Place(VILLAGE_B, "邻村", TOWNSHIP_B),
]

# One user per role per area: (username, role, area code).
GRANTS = [
    ("cadre_v1", Role.VILLAGE_CADRE, VILLAGE_1),
    ("cadre_v2", Role.VILLAGE_CADRE, VILLAGE_2),
    ("cadre_v3", Role.VILLAGE_CADRE, VILLAGE_3),
    ("cadre_b", Role.VILLAGE_CADRE, VILLAGE_B),
    ("reviewer_t1", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    ("reviewer_t2", Role.TOWNSHIP_REVIEWER, TOWNSHIP_2),
    ("reviewer_b", Role.TOWNSHIP_REVIEWER, TOWNSHIP_B),
    ("approver_a", Role.COUNTY_APPROVER, COUNTY),
    ("approver_b", Role.COUNTY_APPROVER, COUNTY_B),
    ("finance_a", Role.FINANCE_OFFICER, COUNTY),
    ("finance_b", Role.FINANCE_OFFICER, COUNTY_B),
    ("inspector_a", Role.INSPECTOR, COUNTY),
    ("inspector_b", Role.INSPECTOR, COUNTY_B),
]

S = Application.Status
TO_TOWNSHIP_REVIEW = ["submit", "start_posting", "close_posting"]
PATH_TO: dict[str, list[str]] = {
    S.DRAFT: [],
    S.SUBMITTED: ["submit"],
    S.POSTED: ["submit", "start_posting"],
    S.TOWNSHIP_REVIEW: TO_TOWNSHIP_REVIEW,
    S.COUNTY_REVIEW: [*TO_TOWNSHIP_REVIEW, "township_approve"],
    S.APPROVED: [*TO_TOWNSHIP_REVIEW, "township_approve", "county_approve"],
    S.DISBURSED: [*TO_TOWNSHIP_REVIEW, "township_approve", "county_approve", "disburse"],
    S.RETURNED: [*TO_TOWNSHIP_REVIEW, "return"],
    S.REJECTED: [*TO_TOWNSHIP_REVIEW, "reject"],
    S.WITHDRAWN: ["withdraw"],
    S.CONCLUDED: [*TO_TOWNSHIP_REVIEW, "township_approve", "county_approve"],
}
STEP_ROLE = {  # ``disburse``: through a payment round (``World.pay``)
    "submit": Role.VILLAGE_CADRE,
    "start_posting": Role.VILLAGE_CADRE,
    "withdraw": Role.VILLAGE_CADRE,
    "township_approve": Role.TOWNSHIP_REVIEWER,
    "return": Role.TOWNSHIP_REVIEWER,
    "reject": Role.TOWNSHIP_REVIEWER,
    "county_approve": Role.COUNTY_APPROVER,
    "disburse": Role.FINANCE_OFFICER,
}


def password_of(username: str) -> str:
    """Every test user's password: one that passes the password rules (not like any
    username, not common, not all digits)."""
    return "Huangtu-gaoyuan-2016"


def after_posting(app: Application) -> datetime:
    """A moment after the application's posting window has ended."""
    assert app.posting_ends_at is not None
    return app.posting_ends_at + timedelta(hours=1)


def record_appraisal(*, actor: Any, application_id: int) -> Application:
    """The village democratic appraisal (民主评议) that ``submit`` needs."""
    return application_edit(
        actor=actor,
        application_id=application_id,
        appraisal_date=clock.today() - timedelta(days=1),
        appraisal_attendees=30,
        appraisal_votes_for=27,
        appraisal_votes_against=1,
    )


def one_page_pdf() -> bytes:
    """A real PDF of one blank A4 page (a scan as the uploads' checks accept it)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def picture(kind: str = "PNG") -> bytes:
    """A real, small picture (``PNG`` or ``JPEG``) that decodes."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, kind)
    return out.getvalue()


SIGNED_AGREEMENT_PDF = one_page_pdf()
PNG = picture("PNG")
JPEG = picture("JPEG")


def upload_signed_agreement(*, actor: Any, application_id: int) -> Attachment:
    """The scan of the signed agreement that ``disburse`` waits for (a small valid PDF)."""
    return attachment_add(
        actor=actor,
        application_id=application_id,
        kind=Attachment.Kind.SIGNED_AGREEMENT,
        file=ContentFile(SIGNED_AGREEMENT_PDF, name="协议书扫描件.pdf"),
    )


def return_file(
    round_: PaymentRound, answers: Mapping[str, tuple[str, str, Decimal | None]]
) -> bytes:
    """A return file for the round's lines named in ``answers`` (reference → result code,
    text, amount paid or None for the amount sent), in the bank's usual GB18030."""
    lines = [line for line in round_.lines.order_by("reference") if line.reference in answers]
    rows = []
    total = Decimal("0.00")
    for n, line in enumerate(lines):
        code, text, amount = answers[line.reference]
        amount = line.amount if amount is None else amount
        total += amount
        card = idnumbers.decrypt(line.card_cipher)
        rows.append(
            f"D|{line.reference}|{line.payee_name}|{card}|{amount:.2f}|{code}|{text}|TXN{n:04d}"
        )
    header = f"H|{round_.reference}|20261204|{len(rows)}|{total:.2f}"
    return ("\r\n".join([header, *rows]) + "\r\n").encode("gb18030")


def all_paid(round_: PaymentRound) -> dict[str, tuple[str, str, Decimal | None]]:
    return {line.reference: ("0000", "成功", None) for line in round_.lines.all()}


@dataclass
class World:
    """Two counties, their townships and villages, one user per role per area, and the seed
    program in each county."""

    users: dict[str, Any]
    program: Program
    program_b: Program
    exit_program: Program
    return_program: Program

    def user(self, username: str) -> Any:
        return self.users[username]

    def actor(self, role: str, area_code: str) -> Any:
        """The test user holding ``role`` on the area that contains ``area_code``."""
        for username, held, code in GRANTS:
            if held == role and area_code.startswith(prefix_of_code(code)):
                return self.users[username]
        raise LookupError(f"no {role} for {area_code}")

    def program_for(self, area_code: str) -> Program:
        return self.program_b if area_code.startswith(COUNTY_B[:6]) else self.program

    def household(self, area_code: str = VILLAGE_1, **kwargs: Any) -> Household:
        cadre = self.actor(Role.VILLAGE_CADRE, area_code)
        return make_household(actor=cadre, area_code=area_code, **kwargs)

    def application(
        self,
        status: str = S.DRAFT,
        *,
        household: Household | None = None,
        area_code: str = VILLAGE_1,
        program: Program | None = None,
        items: list[dict[str, Any]] | None = None,
        appraised: bool = True,
    ) -> Application:
        """A new application, walked through the services to ``status``; unless
        ``appraised=False`` the village appraisal is recorded first (``submit`` needs it)."""
        if household is None:
            household = self.household(area_code)
        cadre = self.actor(Role.VILLAGE_CADRE, household.area_code)
        app = make_application(
            actor=cadre,
            household_id=household.pk,
            program_id=(program or self.program_for(household.area_code)).pk,
            items=items,
        )
        if appraised:
            record_appraisal(actor=cadre, application_id=app.pk)
        return self.walk(app, status)

    def walk(self, app: Application, status: str) -> Application:
        """Move an application along the chain to ``status``, each step by the right
        person (from a draft, by the path of ``PATH_TO``)."""
        for step in PATH_TO[status]:
            if step == "close_posting":
                app.refresh_from_db()
                assert posting_close_if_due(application_id=app.pk, now=after_posting(app))
                continue
            if step == "disburse":
                upload_signed_agreement(
                    actor=self.actor(Role.VILLAGE_CADRE, app.area_code), application_id=app.pk
                )
                self.pay([app])
                continue
            application_transition(
                actor=self.actor(STEP_ROLE[step], app.area_code),
                application_id=app.pk,
                name=step,
                reason="核实后决定" if step in ("return", "reject") else "",
            )
        app.refresh_from_db()
        assert app.status == status
        return app

    def status_change(
        self,
        household: Household,
        kind: str = "exit",
        status: str = S.CONCLUDED,
        *,
        change: Mapping[str, Any] | None = None,
        confirmed: bool = True,
    ) -> Application:
        """An exit (``kind="exit"``) or a return to poverty (``"return"``) of the household,
        proposed with valid facts (or ``change``), appraised, the head's confirmation of
        an exit uploaded (unless ``confirmed=False``), and walked to ``status``."""
        cadre = self.actor(Role.VILLAGE_CADRE, household.area_code)
        program = self.exit_program if kind == "exit" else self.return_program
        facts = change or (
            {
                "income_per_capita": Decimal("6200.00"),
                "income_year": clock.today().year - 1,
                "visit_date": clock.today() - timedelta(days=3),
            }
            if kind == "exit"
            else {"risk_cause": "illness", "risk_date": clock.today() - timedelta(days=2)}
        )
        app = application_create(
            actor=cadre, household_id=household.pk, program_id=program.pk, change=facts
        )
        record_appraisal(actor=cadre, application_id=app.pk)
        if kind == "exit" and confirmed:
            attachment_add(
                actor=cadre,
                application_id=app.pk,
                kind=Attachment.Kind.EXIT_CONFIRMATION,
                file=ContentFile(one_page_pdf(), name="户主确认书.pdf"),
            )
        return self.walk(app, status)

    def exited(self, area_code: str = VILLAGE_1) -> Household:
        """A household that has exited poverty through its chain."""
        household = self.household(area_code)
        self.status_change(household, "exit")
        household.refresh_from_db()
        return household

    def pay(
        self, apps: list[Application], *, maker: Any = None, approver: Any = None
    ) -> PaymentRound:
        """``pay_through_round`` by the county's finance officer (or ``maker``) and county
        approver (or ``approver``)."""
        area = apps[0].area_code
        return pay_through_round(
            apps,
            maker=maker or self.actor(Role.FINANCE_OFFICER, area),
            approver=approver or self.actor(Role.COUNTY_APPROVER, area),
        )


def pay_through_round(apps: list[Application], *, maker: Any, approver: Any) -> PaymentRound:
    """Pay approved applications (of one county and program, their signed agreements
    uploaded) the only way money moves: a round of just these drawn up by ``maker``,
    approved by ``approver``, sent, and confirmed line by line by the bank's return file. A
    round of one that the rules refuse raises that rule's ``Refused``."""
    round_ = payment_round_create(
        actor=maker,
        program_id=apps[0].program_id,
        area_code=apps[0].area_code[:6].ljust(12, "0"),
        application_ids=[a.pk for a in apps],
    )
    payment_round_approve(actor=approver, round_id=round_.pk)
    bank_file_export(actor=maker, round_id=round_.pk)
    round_.refresh_from_db()
    bank_return_import(actor=maker, round_id=round_.pk, data=return_file(round_, all_paid(round_)))
    round_.refresh_from_db()
    return round_


PROGRAM_CODES = (SUBSIDY_CODE, f"{SUBSIDY_CODE}-b")
STATUS_CODES = (EXIT_CODE, RETURN_CODE)


def load_world() -> World:
    """The shared data built by ``build_world``, as fresh objects for one test."""
    users = users_get(username for username, _role, _code in GRANTS)
    programs = {p.code: p for p in Program.objects.filter(code__in=PROGRAM_CODES + STATUS_CODES)}
    return World(
        users=users,
        program=programs[PROGRAM_CODES[0]],
        program_b=programs[PROGRAM_CODES[1]],
        exit_program=programs[EXIT_CODE],
        return_program=programs[RETURN_CODE],
    )


def build_world() -> None:
    """Create the shared data through the services; idempotent (a reused test database
    keeps it)."""
    places_create(actor=None, places=AREAS)
    grants_give(
        actor=None,
        grants=[
            Grant(username, role, code, password_of(username)) for username, role, code in GRANTS
        ],
    )
    for program_code, county in zip(PROGRAM_CODES, (COUNTY, COUNTY_B), strict=True):
        if not Program.objects.filter(code=program_code).exists():
            seed_program(county_code=county, code=program_code)
    if not Program.objects.filter(code=EXIT_CODE).exists():
        status_programs_create(actor=None, county_code=COUNTY, effective_from=date(2020, 1, 1))


def audit_entries(app: Application, action: str, outcome: str = "done") -> list[AuditEntry]:
    """The application's audit entries of ``action`` with ``outcome``."""
    return list(
        AuditEntry.objects.filter(
            object_type="application", object_id=str(app.pk), action=action, outcome=outcome
        )
    )


def kin_app(world: World, status: str, official: str, relation: str = "spouse") -> Application:
    """An application in ``status`` whose head is a close relative ``official`` declared."""
    relative = id_number()
    app = world.application(status, household=world.household(VILLAGE_1, head_id_number=relative))
    declare_kin(official=world.user(official), relation=relation, id_number=relative)
    return app


# --- two people at the same moment (PostgreSQL: real row locks, real threads) -------------


def race(*steps: Callable[[], object]) -> list[object]:
    """Run the steps in threads released together; each thread has its own connection."""
    barrier = threading.Barrier(len(steps))
    outcomes: list[object] = [None] * len(steps)

    def run(index: int, step: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            step()
            outcomes[index] = "ok"
        except Exception as exc:  # the outcome is what the test asserts
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def process_shape(app: Application) -> tuple[Any, ...]:
    """What viewflow wrote for an application's process, without its ids and times: the
    process's status, and each task in order with everything a person or a page reads of it
    (node, type, status, owner, owner permission and its area, token, data, which times are
    set, and the nodes it follows)."""
    from viewflow.workflow.models import Task

    from workflows.models import ApplicationProcess

    process = ApplicationProcess.objects.get(application=app)
    tasks = [
        (
            t.flow_task.name,
            t.flow_task_type,
            t.status,
            t.owner_id,
            t.owner_permission,
            t.owner_permission_content_type_id,
            t.owner_permission_obj_pk,
            t.token,
            t.data,
            t.external_task_id,
            t.seed_content_type_id,
            t.artifact_content_type_id,
            t.assigned is None,
            t.started is None,
            t.finished is None,
            sorted(p.flow_task.name for p in t.previous.all()),
        )
        for t in Task.objects.filter(process=process).order_by("pk")
    ]
    return process.status, process.finished is None, tasks


def direct_writes(monkeypatch: Any) -> list[bool]:
    """What ``workflows.sync._follow_directly`` answered at each call from now on (True:
    it wrote the step itself), to show that a test took the direct path."""
    from workflows import sync

    answers: list[bool] = []
    follow_directly = sync._follow_directly

    def spied(*args: Any) -> bool:
        answers.append(follow_directly(*args))
        return answers[-1]

    monkeypatch.setattr(sync, "_follow_directly", spied)
    return answers


class SchemaExecutor:
    """What ``audit.append_only`` and ``applications.card_holders`` use of a schema editor
    (its connection and ``execute``), on the test's connection: for tests that switch
    triggers off and on outside a migration."""

    connection = connection

    def execute(self, sql: str, params: Any = ()) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
