"""``make bench``: the figures of the README's Performance section, measured on PostgreSQL.

1. Drops and recreates the bench database (its name must end in ``_bench``) and migrates it.
2. Sets up a county with the world builder of ``demo.world`` (areas, roles, the subsidy
   program, all through the services), files 500 applications through the services and
   bulk-loads the rest up to 10,000 applications with ``COPY``. Bulk rows are model
   instances moved by the application's state machine (``applications.lifecycle``) under the
   clock the services read, checked by their models' field rules, with a complete, valid
   history: every entry is hashed with ``audit.hashing.entry_hash`` and linked to the one
   before it, and the chain head is moved on, exactly as ``audit_record`` would have done,
   so ``verify_audit`` passes.
3. Measures, at 10,000 and again at 100,000 applications:
   (a) transitions per second through the whole chain via ``application_transition``
       (submit → start_posting → close_posting → township_approve → county_approve →
       disburse for 500 applications, one process);
   (b) the township reviewer's application list through the API (Django test client,
       token auth): p50/p95 time over 50 requests and the query count;
   (c) audit verification (``ledger_verify`` with ``ApplicationReplay``) in entries/s.

Prints the table as text and as Markdown. Run with ``make bench`` (about 12 minutes on 2
cores). ``python -m benchmarks.run documents`` runs only the documents stage (4. below) on a
fresh bench database, for working on rendering speed (about 6 minutes); ``chain`` runs all
but the documents stage (1. to 3.); ``million`` does the same at 10,000, 100,000 and
1,000,000 applications, with the ratio of 1M to 10k for every figure (about 40 minutes,
about 12 GB of database).

4. Documents: agreements per second for 200 agreements (render + store + audit), and a
   township batch of 1,000 agreements into one ZIP.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model

    from applications.models import Application

BENCH_URL = "postgres://postgres@127.0.0.1:5432/fupin_bench"
SMALL, LARGE, MILLION = 10_000, 100_000, 1_000_000
SERVICE_APPLICATIONS = 500
LIST_REPEATS = 50
CHUNK = 10_000
SEED = 42

COUNTY = "620902000000"
TOWNSHIPS = [f"620902{100 + t}000" for t in range(8)]
VILLAGES = [f"{t[:9]}{200 + v}" for t in TOWNSHIPS for v in range(10)]
# The chain's steps and who takes them (the states they lead to are the state machine's).
CHAIN = [
    ("submit", "cadre"),
    ("start_posting", "cadre"),
    ("close_posting", "system"),
    ("township_approve", "reviewer"),
    ("county_approve", "approver"),
    ("disburse", "finance"),
]
# Where the bulk applications stand (weights), and how many chain steps each took.
STATUS_WEIGHTS = [
    ("draft", 8),
    ("submitted", 5),
    ("posted", 7),
    ("township_review", 12),
    ("county_review", 10),
    ("approved", 10),
    ("disbursed", 35),
    ("returned", 5),
    ("rejected", 4),
    ("withdrawn", 4),
]
CHAIN_STEPS = {
    "draft": 0,
    "withdrawn": 0,
    "submitted": 1,
    "posted": 2,
    "township_review": 3,
    "returned": 3,
    "rejected": 3,
    "county_review": 4,
    "approved": 5,
    "disbursed": 6,
}
RETURN_REASON = "民主评议记录缺少参会人员签字，请补充后重新提交。"
REJECT_REASON = "入户核查发现该户家庭人均纯收入已超过扶贫标准。"
SURNAMES = "王张李刘杨马赵陈魏何徐孙朱胡郭高罗梁宋郑谢韩唐冯董程曹袁邓许"
GIVEN = "建国 志强 永福 海军 德福 春生 文明 玉兰 桂花 秀英 淑珍 红 霞 梅 军 斌 勇 明 亮 刚".split()

# The process of each bulk application, as ``workflows.sync`` leaves it. The bench checks
# after loading that ``process_divergences()`` is empty, so these cannot drift from the flow.
FLOW_CLASS = "workflows/flows.SubsidyApplicationFlow"
NODE_TYPES = {
    "start": "START",
    "submit": "HUMAN",
    "start_posting": "HUMAN",
    "posting": "FUNCTION",
    "after_posting": "SWITCH",
    "township_review": "HUMAN",
    "after_township": "SWITCH",
    "county_review": "HUMAN",
    "after_county": "SWITCH",
    "disburse": "HUMAN",
    "after_payment": "SWITCH",
    "paid": "END",
    "rejected": "END",
}
# Human nodes: the permission they need and how many digits of the area code it is on.
NODE_PERMISSIONS = {
    "submit": ("applications.act_village_cadre", 12),
    "start_posting": ("applications.act_village_cadre", 12),
    "township_review": ("applications.act_township_reviewer", 9),
    "county_review": ("applications.act_county_approver", 6),
    "disburse": ("applications.act_finance_officer", 6),
}
# A lifecycle step: the node it completes, the nodes it passes, the node it opens (None:
# the process ends in the last node passed).
PROCESS_STEPS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "submit": ("submit", (), "start_posting"),
    "start_posting": ("start_posting", (), "posting"),
    "close_posting": ("posting", ("after_posting",), "township_review"),
    "township_approve": ("township_review", ("after_township",), "county_review"),
    "county_approve": ("county_review", ("after_county",), "disburse"),
    "disburse": ("disburse", ("after_payment", "paid"), None),
    "return": ("township_review", ("after_township",), "submit"),
    "reject": ("township_review", ("after_township", "rejected"), None),
}
CLAIMED_SHARE = 0.3  # of the reviewer's township-review tasks: held by them (the inbox)


# --- the database ----------------------------------------------------------------------


def recreate_database(url: str, suffix: str = "_bench") -> None:
    """Drop and create the bench database (its name must end in ``suffix``), connecting to
    ``postgres`` on the same server."""
    import dj_database_url
    import psycopg
    from psycopg.conninfo import make_conninfo

    cfg = dj_database_url.parse(url)
    if not cfg["ENGINE"].endswith("postgresql"):
        sys.exit(f"bench: DATABASE_URL must point at PostgreSQL, not {cfg['ENGINE']}")
    name = str(cfg["NAME"])
    if not name.endswith(suffix):
        sys.exit(f"bench: refusing to drop {name!r}: this database's name must end in {suffix}")
    params: dict[str, Any] = {
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
    }
    conninfo = make_conninfo(dbname="postgres", **{k: v for k, v in params.items() if v})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        quoted = '"' + name.replace('"', '""') + '"'
        conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {quoted}")


def copy_rows(model: type[Model], rows: Iterable[dict[str, Any]]) -> int:
    """``COPY`` rows (dicts by attribute name, every concrete field given) into the model's
    table. JSON fields are serialised as ``JSONField`` would, the ledger's ``changes`` as the
    canonical text that ``CanonicalJSONField`` stores."""
    from django.db import connection, models

    from audit.hashing import canonical_json
    from audit.models import CanonicalJSONField

    fields = list(model._meta.local_concrete_fields)  # a child table holds only its own
    dumps = {
        f.attname: canonical_json if isinstance(f, CanonicalJSONField) else json.dumps
        for f in fields
        if isinstance(f, models.JSONField | CanonicalJSONField)
    }
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    names = [f.attname for f in fields]
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row([dumps[n](row[n]) if n in dumps else row[n] for n in names])
            count += 1
    return count


def next_id(model: type[Model]) -> int:
    from django.db.models import Max

    return int(model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1


def reset_sequence(model: type[Model]) -> None:
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
            f"(SELECT COALESCE(MAX(id), 1) FROM {connection.ops.quote_name(table)}))",
            [table],
        )


# --- the world -------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    program_id: int
    version: Any  # the program's ProgramVersion
    items: dict[str, Any]  # code → ProgramItem
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    id_serial: int = 0

    def id_number(self) -> str:
        """A valid, unique ID number: a birth date from 1950 on and a serial."""
        from applications.idnumbers import id_check_digit

        n = self.id_serial
        self.id_serial += 1
        born = date(1950, 1, 1) + timedelta(days=n % 14_600)
        first17 = f"620902{born:%Y%m%d}{n // 14_600:03d}"
        return first17 + id_check_digit(first17)

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def card(self) -> str:
        return "622848" + "".join(str(self.rng.randrange(10)) for _ in range(13))

    def phone(self) -> str:
        return "139" + "".join(str(self.rng.randrange(10)) for _ in range(8))

    def quantities(self) -> list[tuple[str, int]]:
        if self.rng.random() < 0.8:
            return [("pen", 1), ("sheep", self.rng.randint(1, 10))]
        return [("sheep", self.rng.randint(5, 25))]


def world_create() -> World:
    """Areas, users and the program, built by ``demo.world`` through the services (so all
    on the record): a county of eight townships with ten villages each."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from applications.roles import Role
    from demo.world import Grant, Place, grants_give, places_create, subsidy_program_create

    User = get_user_model()
    places = [Place(COUNTY, "肃州区")]
    for t_index, code in enumerate(TOWNSHIPS):
        places.append(Place(code, f"第{t_index + 1}乡", COUNTY))
        places += [Place(v, f"{v[-3:]}村", code) for v in VILLAGES if v.startswith(code[:9])]
    grants = [
        Grant("cadre", Role.VILLAGE_CADRE, VILLAGES[0]),
        Grant("reviewer", Role.TOWNSHIP_REVIEWER, TOWNSHIPS[0]),
        Grant("approver", Role.COUNTY_APPROVER, COUNTY),
        Grant("finance", Role.FINANCE_OFFICER, COUNTY),
        Grant("inspector", Role.INSPECTOR, COUNTY),
    ]
    with transaction.atomic():
        admin = User.objects.create_superuser("bench_admin", "", None)
        places_create(actor=admin, places=places)
        users = grants_give(actor=admin, grants=grants)
        program = subsidy_program_create(
            actor=admin,
            county_code=COUNTY,
            # Room for every approval the bulk loader commits at a million applications
            # (about 1.75 billion yuan), and the chain run's after them.
            budget=Decimal("10000000000.00"),
            effective_from=date(2020, 1, 1),
        )
    version = program.versions.get()
    return World(
        users=users,
        program_id=program.pk,
        version=version,
        items={i.code: i for i in version.items.all()},
    )


# --- through the services --------------------------------------------------------------


def service_applications(
    world: World, count: int, *, cadre: Any = None, village: str = VILLAGES[0]
) -> list[int]:
    """Register households and file appraised drafts in a village, all through the
    services (by the world's cadre unless another is given)."""
    from django.utils import timezone

    from applications.models import Household
    from applications.services import household_create
    from approvals.services.filing import application_create, application_edit

    cadre = cadre or world.users["cadre"]
    ids = []
    for _ in range(count):
        household = household_create(
            actor=cadre,
            area_code=village,
            head_name=world.name(),
            head_id_number=world.id_number(),
            bank_card=world.card(),
            phone=world.phone(),
            household_type=Household.Kind.GENERAL,
            poverty_causes=[Household.Cause.CAPITAL],
        )
        app = application_create(
            actor=cadre,
            household_id=household.pk,
            program_id=world.program_id,
            items=[{"item": c, "quantity": q} for c, q in world.quantities()],
        )
        application_edit(
            actor=cadre,
            application_id=app.pk,
            appraisal_date=timezone.localdate(),
            appraisal_attendees=40,
            appraisal_votes_for=36,
            appraisal_votes_against=2,
        )
        ids.append(app.pk)
    return ids


@dataclass
class TransitionResult:
    count: int
    seconds: float
    per_step_ms: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def transitions_run(world: World, app_ids: Sequence[int]) -> TransitionResult:
    """Every application through the whole chain, step by step (all submits, then all
    postings, …), each step one ``application_transition`` call; the payment is one round
    of all of them (``round_pay``)."""
    from django.utils import timezone

    from approvals.services.transitions import application_transition

    per_step: dict[str, float] = {}
    total = 0.0
    for name, who in CHAIN:
        actor = None if who == "system" else world.users[who]
        # The timer closes a posting once its seven days have passed.
        now = timezone.now() + timedelta(days=8) if name == "close_posting" else None
        if name == "disburse":
            signed_agreements_upload(world.users["cadre"], app_ids)  # payment waits for them
        started = time.perf_counter()
        if name == "disburse":
            # Paid the only way money moves: one round of them, its bank file and the
            # bank's return file.
            round_pay(world, app_ids)
        else:
            for pk in app_ids:
                application_transition(actor=actor, application_id=pk, name=name, now=now)
        elapsed = time.perf_counter() - started
        per_step[name] = elapsed / len(app_ids) * 1000
        total += elapsed
    return TransitionResult(len(app_ids) * len(CHAIN), total, per_step)


# --- in bulk ---------------------------------------------------------------------------


class Ledger:
    """Appends entries to a county's chain the way ``audit_record`` does: next sequence
    number, link to the previous hash, hash of the canonical content."""

    def __init__(self, chain: str, seq: int, prev_hash: str) -> None:
        self.chain, self.seq, self.prev_hash = chain, seq, prev_hash
        self.rows: list[dict[str, Any]] = []

    def append(self, id_: int, **fields: Any) -> None:
        from audit.hashing import entry_hash

        self.seq += 1
        row: dict[str, Any] = {
            "chain": self.chain,
            "seq": self.seq,
            "outcome": "done",
            "from_state": "",
            "to_state": "",
            "reason": "",
            "prev_hash": self.prev_hash,
            **fields,
        }
        # What ``audit_record`` stores: callers pass ``model_changes`` output or plain strings.
        row["changes"] = dict(row.get("changes") or {})
        row["hash"] = entry_hash(**row)
        row["id"] = id_
        self.prev_hash = row["hash"]
        self.rows.append(row)


@dataclass
class Ids:
    """The next primary key of each bulk-loaded table."""

    household: int
    person: int
    application: int
    item: int
    decision: int
    objection: int
    entry: int
    process: int
    task: int
    task_link: int

    @classmethod
    def load(cls) -> Ids:
        from viewflow.workflow.models import Process, Task

        from applications.models import Application, ApplicationItem, Household, Person
        from approvals.models import Decision, Objection
        from audit.models import AuditEntry

        return cls(
            household=next_id(Household),
            person=next_id(Person),
            application=next_id(Application),
            item=next_id(ApplicationItem),
            decision=next_id(Decision),
            objection=next_id(Objection),
            entry=next_id(AuditEntry),
            process=next_id(Process),
            task=next_id(Task),
            task_link=next_id(Task.previous.through),
        )

    def take(self, name: str) -> int:
        value: int = getattr(self, name)
        setattr(self, name, value + 1)
        return value


def bulk_applications(
    world: World, count: int, weights: Sequence[tuple[str, int]] = STATUS_WEIGHTS
) -> None:
    """``count`` more households, each with one application at a random point of the chain,
    with their items, decisions, objections and complete audit history, by ``COPY`` in
    chunks of ``CHUNK``, each chunk one transaction that moves the chain head on."""
    from django.db import connection, transaction
    from django.db.models import F
    from viewflow.workflow.models import Process, Task

    from applications.models import Application, ApplicationItem, Household, Person, Program
    from approvals.models import Decision, Objection
    from audit.models import AuditEntry, ChainHead
    from workflows.models import ApplicationProcess

    done = 0
    timings = dict.fromkeys(("generate", "copy", "commit", "vacuum"), 0.0)
    while done < count:
        n = min(CHUNK, count - done)
        with transaction.atomic():
            head = ChainHead.objects.select_for_update().get(chain=COUNTY[:6])
            chunk = BulkChunk(world, Ledger(head.chain, head.seq, head.hash), Ids.load())
            chunk.weights = weights
            t0 = time.perf_counter()
            for _ in range(n):
                chunk.add()
            t1 = time.perf_counter()
            for model, rows in (
                (Household, chunk.households),
                (Person, chunk.people),
                (Application, chunk.apps),
                (ApplicationItem, chunk.lines),
                (Decision, chunk.decisions),
                (Objection, chunk.objections),
                (AuditEntry, chunk.ledger.rows),
                (Process, chunk.processes),
                (ApplicationProcess, chunk.subsidy_processes),
                (Task, chunk.tasks),
                (Task.previous.through, chunk.task_links),
            ):
                copy_rows(model, rows)
            ChainHead.objects.filter(chain=head.chain).update(
                seq=chunk.ledger.seq, hash=chunk.ledger.prev_hash
            )
            # What their county_approve steps would have added to the running total.
            Program.objects.filter(pk=world.program_id).update(
                committed=F("committed") + chunk.committed()
            )
            t2 = time.perf_counter()
        timings["generate"] += t1 - t0
        timings["copy"] += t2 - t1
        timings["commit"] += time.perf_counter() - t2
        done += n
    for model in (
        Household,
        Person,
        Application,
        ApplicationItem,
        Decision,
        Objection,
        AuditEntry,
        Process,
        Task,
        Task.previous.through,
    ):
        reset_sequence(model)
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum"] = time.perf_counter() - t
    say("  " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


class BulkChunk:
    """The rows of one chunk: households with their head, one application each with its
    items, the decisions and objections of its history, and that history in the ledger.

    The rows are model instances made as the services make them: each moment of the
    history runs under ``common.clock.frozen_at`` (so the models' time stamps, the state
    machine and the ledger read the same time, as in a service call), each step is taken by
    the application's state machine (``applications.lifecycle``: status, who, when, posting
    window) and each instance passes its model's field rules (``validated``) before it
    becomes a row."""

    def __init__(self, world: World, ledger: Ledger, ids: Ids) -> None:
        from common import clock

        self.world, self.ledger, self.ids, self.rng = world, ledger, ids, world.rng
        self.users = world.users
        self.names = {key: u.get_username() for key, u in world.users.items()}
        self.time = clock.now() - timedelta(days=1)
        self.households: list[dict[str, Any]] = []
        self.people: list[dict[str, Any]] = []
        self.apps: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.objections: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []
        self.subsidy_processes: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.task_links: list[dict[str, Any]] = []
        self.content_types = content_type_ids()
        self.approved = Decimal("0.00")
        self.weights: Sequence[tuple[str, int]] = STATUS_WEIGHTS

    def committed(self) -> Decimal:
        """The amounts of this chunk's applications that went through ``county_approve``."""
        return self.approved

    @contextmanager
    def moment(self) -> Iterator[datetime]:
        """The next moment of the history (a few hundred microseconds on): the time that
        ``common.clock.now()`` answers within the block, as in one service call."""
        from common import clock

        self.time += timedelta(microseconds=self.rng.randint(50, 400))
        with clock.frozen_at(self.time):
            yield self.time

    def entry(self, actor: str, **fields: Any) -> None:
        """The ledger entry of the moment, as ``audit_record`` writes it."""
        from common import clock

        user = self.users.get(actor)
        self.ledger.append(
            self.ids.take("entry"),
            created_at=clock.now(),
            actor_id=user.pk if user else None,
            actor_name=self.names.get(actor, "system"),
            **fields,
        )

    def add(self) -> None:
        village = self.rng.choice(VILLAGES)
        household_id = self.household(village)
        self.application(household_id, village)

    def household(self, village: str) -> int:
        from applications import idnumbers
        from applications.models import Household, Person
        from applications.services import household_snapshot
        from audit.services import model_changes

        world = self.world
        number, card = world.id_number(), world.card()
        with self.moment():
            head_name = world.name()
            household = Household(
                id=self.ids.take("household"),
                area_id=village,
                area_code=village,
                head_name=head_name,
                bank_card_holder=head_name,  # the head's own card, as registration records it
                head_id_masked=idnumbers.mask_id_number(number),
                household_type=Household.Kind.GENERAL,
                poverty_causes=[self.rng.choice(Household.Cause.values)],
                status=Household.Status.REGISTERED,
                bank_card_cipher=idnumbers.encrypt(card),
                bank_card_hash=idnumbers.lookup_hash(card),
                bank_card_masked=idnumbers.mask_bank_card(card),
                bank_card_changed_at=None,
                phone=world.phone(),
                created_by_id=self.users["cadre"].pk,
            )
            person = Person(
                id=self.ids.take("person"),
                household_id=household.pk,
                name=household.head_name,
                relation=Person.Relation.HEAD,
                id_cipher=idnumbers.encrypt(number),
                id_hash=idnumbers.lookup_hash(number),
                id_masked=household.head_id_masked,
            )
            self.entry(
                "cadre",
                action="household.create",
                object_type="household",
                object_id=str(household.pk),
                area_code=village,
                changes=model_changes(None, household_snapshot(household, [person])),
            )
        self.households.append(validated(household))
        self.people.append(validated(person))
        return int(household.pk)

    def application(self, household_id: int, village: str) -> None:
        from applications.chains import SUBSIDY
        from applications.lifecycle import lifecycle_class
        from applications.models import Application, ApplicationItem
        from approvals.models import Decision
        from audit.services import model_changes
        from common import clock

        world, users = self.world, self.users
        S = Application.Status
        app_id = self.ids.take("application")
        chosen = [(world.items[c], q) for c, q in world.quantities()]
        weights = self.weights
        status = self.rng.choices([s for s, _ in weights], [w for _, w in weights])[0]
        common = {"object_type": "application", "object_id": str(app_id), "area_code": village}
        with self.moment():
            lines = [
                ApplicationItem(
                    id=self.ids.take("item"),
                    application_id=app_id,
                    item=item,
                    quantity=qty,
                    unit_amount=item.unit_amount,
                    amount=item.unit_amount * qty,
                )
                for item, qty in chosen
            ]
            app = Application(
                id=app_id,
                household_id=household_id,
                program_id=world.program_id,
                program_version=world.version,
                area_code=village,
                amount=sum((line.amount for line in lines), Decimal("0.00")),
                created_by=users["cadre"],
            )
            # The same snapshot as ``approvals.services.filing.application_create`` records.
            snapshot = {
                "household": household_id,
                "program": world.program_id,
                "program_version": world.version.pk,
                "status": app.status,
                "amount": app.amount,
                "items": sorted(f"{ln.item.code}×{ln.quantity}@{ln.unit_amount}" for ln in lines),
            }
            self.entry(
                "cadre",
                action="application.create",
                to_state=app.status,
                changes=model_changes(None, snapshot),
                **common,
            )
        steps = [(name, who, "") for name, who in CHAIN[: CHAIN_STEPS[status]]]
        if status == S.RETURNED:
            steps.append(("return", "reviewer", RETURN_REASON))
        elif status == S.REJECTED:
            steps.append(("reject", "reviewer", REJECT_REASON))
        elif status == S.WITHDRAWN:
            steps.append(("withdraw", "cadre", ""))
        if status != S.DRAFT:
            with self.moment():
                appraisal = {
                    "appraisal_date": clock.today(),
                    "appraisal_attendees": 40,
                    "appraisal_votes_for": 36,
                    "appraisal_votes_against": 2,
                }
                self.entry(
                    "cadre",
                    action="application.update",
                    changes=model_changes(dict.fromkeys(appraisal), appraisal),
                    **common,
                )
                for field_name, value in appraisal.items():
                    setattr(app, field_name, value)
        walked: list[tuple[str, str, datetime]] = []
        for name, who, reason in steps:
            with self.moment() as at:
                # What ``application_transition`` does once its checks have passed.
                actor = users.get(who)
                from_state = app.status
                lifecycle_class(SUBSIDY)(app, actor).method(name)()
                if name in SUBSIDY.reason_required:
                    app.last_reason = reason
                decision = Decision(
                    id=self.ids.take("decision"),
                    application_id=app_id,
                    transition=name,
                    from_status=from_state,
                    to_status=app.status,
                    actor=actor,
                    reason=reason,
                )
                self.entry(
                    who,
                    action=f"application.{name}",
                    from_state=from_state,
                    to_state=app.status,
                    reason=reason,
                    **common,
                )
            self.decisions.append(validated(decision))
            walked.append((name, who, at))
            if name == "county_approve":
                self.approved += app.amount
        assert app.status == status, (app.status, status)
        if status == S.POSTED and self.rng.random() < 0.2:
            self.objection(app_id, common)
        self.process(app, walked)
        self.apps.append(validated(app))
        self.lines.extend(validated(line) for line in lines)

    def process(self, app: Application, steps: list[tuple[str, str, datetime]]) -> None:
        """The application's viewflow process and its tasks, step by step as the flow
        takes them: each lifecycle step completes its node, passes the switches after it and
        opens the next node (``PROCESS_STEPS``); a withdrawal cancels the open task."""
        process_id, village = self.ids.take("process"), app.area_code
        tasks: list[dict[str, Any]] = []

        def open_node(node: str, at: datetime) -> dict[str, Any]:
            permission, digits = NODE_PERMISSIONS.get(node, (None, 0))
            task: dict[str, Any] = {
                "id": self.ids.take("task"),
                "flow_task": f"{FLOW_CLASS}.{node}",
                "flow_task_type": NODE_TYPES[node],
                "status": "NEW",
                "created": at,
                "assigned": None,
                "started": None,
                "finished": None,
                "scheduled": None,
                "token": "start",
                "external_task_id": None,
                "owner_id": None,
                "owner_permission": permission,
                "owner_permission_content_type_id": self.content_types["area"]
                if permission
                else None,
                "owner_permission_obj_pk": village[:digits].ljust(12, "0") if permission else None,
                "process_id": process_id,
                "data": {},
                "seed_content_type_id": None,
                "seed_object_id": None,
                "artifact_content_type_id": None,
                "artifact_object_id": None,
            }
            if tasks:
                self.task_links.append(
                    {
                        "id": self.ids.take("task_link"),
                        "from_task_id": tasks[-1]["id"],
                        "to_task_id": task["id"],
                    }
                )
            tasks.append(task)
            return task

        def close(
            task: dict[str, Any], at: datetime, owner: Any = None, status: str = "DONE"
        ) -> None:
            task.update(status=status, finished=at, owner_id=owner.pk if owner else None)

        created = app.created_at
        close(open_node("start", created), created)
        current: dict[str, Any] | None = open_node("submit", created)
        status, finished = "NEW", None
        for name, who, at in steps:
            if name == "withdraw":
                assert current is not None
                close(current, at, status="CANCELED")
                current, status, finished = None, "CANCELED", at
                continue
            node, passed, opens = PROCESS_STEPS[name]
            assert current is not None and current["flow_task"].endswith(f".{node}"), (
                name,
                current,
            )
            close(current, at, self.users.get(who) if NODE_TYPES[node] == "HUMAN" else None)
            for node_passed in passed:
                close(open_node(node_passed, at), at)
            current = open_node(opens, at) if opens else None
            if opens is None:
                status, finished = "DONE", at
        if (
            current is not None
            and current["flow_task"].endswith(".township_review")
            and village.startswith(TOWNSHIPS[0][:9])
            and self.rng.random() < CLAIMED_SHARE
        ):
            at = current["created"] + timedelta(minutes=5)
            reviewer = self.users["reviewer"]
            current.update(status="ASSIGNED", owner_id=reviewer.pk, assigned=at)
            self.entry(
                "reviewer",
                action="task.claim",
                object_type="application",
                object_id=str(app.pk),
                area_code=village,
                from_state="NEW",
                to_state="ASSIGNED",
                changes={
                    "task": [None, current["id"]],
                    "node": [None, "township_review"],
                    "owner": [None, reviewer.get_username()],
                },
            )
        self.processes.append(
            {
                "id": process_id,
                "flow_class": FLOW_CLASS,
                "status": status,
                "created": created,
                "finished": finished,
                "data": {},
                "parent_task_id": None,
                "seed_content_type_id": None,
                "seed_object_id": None,
                "artifact_content_type_id": self.content_types["application"],
                "artifact_object_id": app.pk,
            }
        )
        self.subsidy_processes.append({"process_ptr_id": process_id, "application_id": app.pk})
        self.tasks.extend(tasks)

    def objection(self, app_id: int, common: dict[str, str]) -> None:
        from approvals.models import Objection

        text = "反映该户申报的羊只数量和实际不符。"
        with self.moment():
            objection = Objection(
                id=self.ids.take("objection"),
                application_id=app_id,
                text=text,
                raised_by=self.users["cadre"],
            )
            self.entry(
                "cadre",
                action="objection.raise",
                changes={"objection": [None, str(objection.pk)], "text": [None, text]},
                **common,
            )
        self.objections.append(validated(objection))


def content_type_ids() -> dict[str, int]:
    from django.contrib.contenttypes.models import ContentType

    from applications.models import Application, Area

    return {
        "area": ContentType.objects.get_for_model(Area).pk,
        "application": ContentType.objects.get_for_model(Application).pk,
    }


def row_of(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.local_concrete_fields}


@cache
def _query_checked(model: type[Model]) -> frozenset[str]:
    """The fields whose ``full_clean`` check is a query per row: the foreign keys."""
    return frozenset(f.name for f in model._meta.concrete_fields if f.is_relation)


def validated(instance: Model) -> dict[str, Any]:
    """The instance's row, after its model's own field rules (``clean_fields``, the part of
    ``full_clean`` that checks choices, lengths, digits and validators). Left out, since each
    would cost queries per row: the foreign keys (their rows may be in the same ``COPY``)
    and the unique checks; PostgreSQL enforces both on the ``COPY`` itself, with the
    models' ``Meta.constraints``."""
    instance.clean_fields(exclude=_query_checked(type(instance)))
    return row_of(instance)


# --- reads -----------------------------------------------------------------------------


@dataclass
class ListResult:
    p50_ms: float
    p95_ms: float
    queries: int
    rows: int


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def timed_get(client: Any, url: str, rows: Any) -> ListResult:
    """``GET url`` through the whole stack, timed ``LIST_REPEATS`` times after a warm-up,
    then once more counting queries; ``rows(response)`` says how many rows the list holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for i in range(LIST_REPEATS + 3):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        if i >= 3:
            times.append(elapsed * 1000)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return ListResult(
        p50_ms=percentile(times, 0.5),
        p95_ms=percentile(times, 0.95),
        queries=len(ctx.captured_queries),
        rows=int(rows(response)),
    )


def list_run(world: World, url: str) -> ListResult:
    """The reviewer's list through the API (middleware, token auth, DRF, the selector,
    pagination, serialisation)."""
    from django.test import Client
    from knox.models import AuthToken

    _instance, token = AuthToken.objects.create(user=world.users["reviewer"])
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    return timed_get(client, url, lambda response: response.json()["count"])


def page_run(user: Any, url: str, rows: int) -> ListResult:
    """A page (middleware, session, the selector, the template), signed in as ``user``;
    ``rows``: how many the list holds in all (counted apart)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return timed_get(client, url, lambda _response: rows)


# The queue and inbox pages: who, which list, the query string.
QUEUE_PAGES = {
    "township queue, default (oldest first)": ("reviewer", "queue", ""),
    "township queue, village + sort by amount": ("reviewer", "queue", "village={v}&sort=-amount"),
    "township queue, page 10 of 20": ("reviewer", "queue", "size=20&page=10"),
    "township inbox (claimed tasks)": ("reviewer", "inbox", ""),
    "county queue, default": ("approver", "queue", ""),
    "county queue, township filter, newest first": (
        "approver",
        "queue",
        "township={t}&sort=-waiting",
    ),
}


def queues_run(world: World) -> dict[str, ListResult]:
    """The reviewer's and the approver's queue and inbox pages, after checking that every
    application's process waits where its status says (the bulk rows included)."""
    from workflows.selectors import process_divergences, tasks_inbox, tasks_queue

    diverged = process_divergences().count()
    assert diverged == 0, f"{diverged} applications' processes diverge from their status"
    results = {}
    for key, (who, mode, query) in QUEUE_PAGES.items():
        user = world.users[who]
        listed = tasks_queue(user) if mode == "queue" else tasks_inbox(user)
        rows = listed.order_by().count()
        url = f"/review/{mode}/?" + query.format(v=VILLAGES[1], t=TOWNSHIPS[1])
        results[key] = page_run(user, url, rows)
    return results


def flags_run(world: World) -> ListResult:
    """The county inspector's red flags, the last part of the leads page (``/inspect/leads/``,
    once ``/inspect/flags/``, which leads there): kin flags, shared bank
    cards and held payments, the last searched among every approved application of the
    county (their number is the rows column)."""
    from applications.models import Application

    approved = Application.objects.filter(status=Application.Status.APPROVED).count()
    return page_run(world.users["inspector"], "/inspect/leads/", approved)


@dataclass
class VerifyResult:
    entries: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds


def verify_run() -> VerifyResult:
    from applications.integrity import ApplicationReplay
    from audit.verify import ledger_verify

    started = time.perf_counter()
    report = ledger_verify(replayers=[ApplicationReplay()])
    elapsed = time.perf_counter() - started
    assert report.ok, f"the bench ledger does not verify: {report.first_problem}"
    return VerifyResult(report.entries, elapsed)


# --- the run ---------------------------------------------------------------------------


@dataclass
class Scale:
    applications: int
    transitions: TransitionResult
    lists: dict[str, ListResult]
    queues: dict[str, ListResult]
    flags: ListResult
    verify: VerifyResult


LIST_URLS = {
    "status=township_review": "/api/v1/applications/?status=township_review",
    "default": "/api/v1/applications/",
}


def measure(world: World, label: str) -> Scale:
    from applications.models import Application

    say(f"[{label}] {SERVICE_APPLICATIONS} applications through the chain via the services")
    # Filed before the clock starts: only the transitions are timed.
    app_ids = service_applications(world, SERVICE_APPLICATIONS)
    transitions = transitions_run(world, app_ids)
    say(f"[{label}] the reviewer's list through the API")
    lists = {key: list_run(world, url) for key, url in LIST_URLS.items()}
    say(f"[{label}] the queue and inbox pages")
    queues = queues_run(world)
    say(f"[{label}] the inspector's red flags page")
    flags = flags_run(world)
    say(f"[{label}] audit verification")
    verify = verify_run()
    return Scale(Application.objects.count(), transitions, lists, queues, flags, verify)


# --- documents (issue 5) -------------------------------------------------------------------

DOC_TOWNSHIP = "620902120000"  # a township of its own: nothing above is measured there
DOC_VILLAGE = "620902120200"
DOC_SINGLE, DOC_BATCH = 200, 1_000


def documents_run(world: World) -> None:
    """Agreements per second (render + store + audit, one process) for 200 documents, and
    the time of a township batch of 1,000 agreements (``document_batch_run``, the worker's
    function, run in this process). Both on approved applications of a township made for
    it through the services (filing and approval are not timed). Prints its own lines."""
    import tempfile

    from django.test import override_settings
    from django.utils import timezone

    from applications.models import Area
    from applications.roles import Role
    from applications.services import area_create, role_grant
    from approvals.services.transitions import application_transition
    from documents.models import DocumentBatch
    from documents.services.batches import document_batch_request, document_batch_run
    from documents.services.issuing import agreement_issue

    county = Area.objects.get(code=COUNTY)
    township = area_create(code=DOC_TOWNSHIP, name="文书乡", parent=county)
    area_create(code=DOC_VILLAGE, name="文书村", parent=township)
    cadre = role_grant(
        actor=None, username="doc_cadre", role=Role.VILLAGE_CADRE, area_code=DOC_VILLAGE
    )[0]
    reviewer = role_grant(
        actor=None, username="doc_reviewer", role=Role.TOWNSHIP_REVIEWER, area_code=DOC_TOWNSHIP
    )[0]
    say(f"[documents] filing and approving {DOC_SINGLE + DOC_BATCH:,} applications")
    app_ids = service_applications(world, DOC_SINGLE + DOC_BATCH, cadre=cadre, village=DOC_VILLAGE)
    actors = {**world.users, "cadre": cadre, "reviewer": reviewer}
    for name, who in CHAIN[:-1]:  # up to county_approve
        actor = None if who == "system" else actors[who]
        now = timezone.now() + timedelta(days=8) if name == "close_posting" else None
        for pk in app_ids:
            application_transition(actor=actor, application_id=pk, name=name, now=now)
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
        say(f"[documents] {DOC_SINGLE} agreements, one by one")
        single = app_ids[:DOC_SINGLE]
        started, cpu_started = time.perf_counter(), time.process_time()
        sizes = [agreement_issue(actor=reviewer, application_id=pk).size for pk in single]
        elapsed = time.perf_counter() - started
        # This process's CPU time: the rate one core gives, whatever else the machine runs.
        cpu = time.process_time() - cpu_started
        # Paid: they leave the township's approved applications, so the batch is 1,000.
        signed_agreements_upload(cadre, single)
        round_pay(world, single)
        say(f"[documents] a township batch of {DOC_BATCH:,} agreements")
        batch = document_batch_request(
            actor=reviewer, kind=DocumentBatch.Kind.AGREEMENTS, township_code=DOC_TOWNSHIP
        )
        started = time.perf_counter()
        batch = document_batch_run(batch_id=batch.pk)
        batch_seconds = time.perf_counter() - started
    rows = [
        ["measure", "result", "aim"],
        [
            f"agreements/s, render + store + audit ({DOC_SINGLE} documents, 1 process)",
            f"{DOC_SINGLE / elapsed:.1f} ({sum(sizes) / len(sizes) / 1024:.0f} KB each)",
            "",
        ],
        [
            "  the same per CPU-second of that process (one core)",
            f"{DOC_SINGLE / cpu:.1f}",
            "≥ 5 per core",
        ],
        [
            f"township batch of {batch.done:,} agreements → one ZIP ({batch.status})",
            f"{batch_seconds:.0f} s",
            "",
        ],
    ]
    print()
    print(render_text(rows))
    print()
    print(render_markdown(rows))
    print()


def round_pay(world: World, app_ids: Sequence[int]) -> None:
    """Pay approved applications through one payment round: drawn up by finance, approved
    by the county approver, its bank file exported, and the bank's return file (every line
    paid) imported."""
    from demo.seed import bank_return_file
    from payments.services.bank_files import bank_file_export, bank_return_import
    from payments.services.rounds import payment_round_approve, payment_round_create

    finance = world.users["finance"]
    round_ = payment_round_create(
        actor=finance,
        program_id=world.program_id,
        area_code=COUNTY,
        application_ids=list(app_ids),
    )
    payment_round_approve(actor=world.users["approver"], round_id=round_.pk)
    bank_file_export(actor=finance, round_id=round_.pk)
    round_.refresh_from_db()
    bank_return_import(actor=finance, round_id=round_.pk, data=bank_return_file(round_, {}))


def signed_agreements_upload(cadre: Any, app_ids: Sequence[int]) -> None:
    """The scan of each signed agreement, which payment waits for (not timed)."""
    from django.core.files.base import ContentFile

    from approvals.models import Attachment
    from approvals.services.attachments import attachment_add

    scan = _one_page_pdf()
    for pk in app_ids:
        attachment_add(
            actor=cadre,
            application_id=pk,
            kind=Attachment.Kind.SIGNED_AGREEMENT,
            file=ContentFile(scan, name="scan.pdf"),
        )


def _one_page_pdf() -> bytes:
    """A real PDF of one blank A4 page: the uploads' checks open every PDF."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- payment rounds (issue 11) ----------------------------------------------------------------

PAY_SIZES = (1_000, 10_000)
PAY_FAILED, PAY_DISCREPANT = 0.02, 0.001  # of the lines, in the bank's return file


@dataclass
class PaymentResult:
    lines: int
    seconds: dict[str, float]
    peak_rss_mb: float
    failed: int
    discrepancies: int

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def _load_approved(world: World, count: int) -> None:
    """``count`` approved applications with their history and their signed agreements, in
    a child process (its memory is not the round's)."""
    from django.db import connections

    bulk_applications(world, count, weights=[("approved", 1)])
    from applications.models import Application
    from approvals.models import Attachment

    signed = Attachment.objects.filter(kind=Attachment.Kind.SIGNED_AGREEMENT).values(
        "application_id"
    )
    waiting = Application.objects.filter(status="approved").exclude(pk__in=signed)
    Attachment.objects.bulk_create(
        [
            Attachment(
                application_id=pk,
                kind=Attachment.Kind.SIGNED_AGREEMENT,
                file=f"attachments/{pk}/bench.pdf",
                original_name="scan.pdf",
                content_type="application/pdf",
                size=15,
                sha256="0" * 64,
                uploaded_by=world.users["cadre"],
            )
            for pk in waiting.values_list("pk", flat=True)
        ],
        batch_size=5000,
    )
    connections.close_all()


def _bank_answers(round_: Any) -> bytes:
    """The bank's return file for a round: every line paid but 2% failed (the bank's
    reasons) and 0.1% paid a different amount, in GB18030 as banks write it."""
    from applications import idnumbers

    rng = random.Random(SEED)
    lines = list(round_.lines.order_by("reference"))
    failing = set(rng.sample(range(len(lines)), round(len(lines) * PAY_FAILED)))
    short = set(
        rng.sample(
            [i for i in range(len(lines)) if i not in failing],
            max(1, round(len(lines) * PAY_DISCREPANT)),
        )
    )
    reasons = [
        ("3001", "账户已销户"),
        ("3002", "户名不符"),
        ("3003", "账户冻结"),
        ("3004", "卡号不存在"),
    ]
    rows, total = [], Decimal("0.00")
    for n, line in enumerate(lines):
        amount = line.amount - Decimal("100.00") if n in short else line.amount
        code, text = rng.choice(reasons) if n in failing else ("0000", "交易成功")
        card = idnumbers.decrypt(line.card_cipher)
        txn = f"95588{n:010d}" if code == "0000" else ""
        rows.append(f"D|{line.reference}|{line.payee_name}|{card}|{amount:.2f}|{code}|{text}|{txn}")
        total += amount
    header = f"H|{round_.reference}|{date.today():%Y%m%d}|{len(rows)}|{total:.2f}"
    return ("\r\n".join([header, *rows]) + "\r\n").encode("gb18030")


def payments_run(world: World) -> list[PaymentResult]:
    """A county round of 1,000 then of 10,000 approved applications, each step timed as
    the finance office takes it: drawing it up, approving it (a second person), exporting
    the bank file (txt), importing the bank's return file (2% failed, 0.1% paid a different
    amount). The peak resident memory of this process is read after each round; the
    applications are loaded in a child process, so it is the round's."""
    import multiprocessing
    import resource

    from django.db import connections

    from payments.services.bank_files import bank_file_export, bank_return_import
    from payments.services.rounds import payment_round_approve, payment_round_create

    results = []
    for size in PAY_SIZES:
        say(f"[payments] loading {size:,} approved applications with their agreements")
        # Closed before the fork: parent and child must not share a connection's socket.
        connections.close_all()
        child = multiprocessing.get_context("fork").Process(
            target=_load_approved, args=(world, size)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"bench: loading failed ({child.exitcode})")
        # What the child used of the world's numbers and random stream, not used again.
        world.id_serial += size
        world.rng = random.Random(SEED + size)
        finance, approver = world.users["finance"], world.users["approver"]
        seconds: dict[str, float] = {}
        say(f"[payments] a round of {size:,} lines")
        t = time.perf_counter()
        round_ = payment_round_create(actor=finance, program_id=world.program_id, area_code=COUNTY)
        seconds["draw up"] = time.perf_counter() - t
        assert round_.count == size, (round_.count, size)
        t = time.perf_counter()
        payment_round_approve(actor=approver, round_id=round_.pk)
        seconds["approve"] = time.perf_counter() - t
        t = time.perf_counter()
        bank_file_export(actor=finance, round_id=round_.pk, fmt="txt")
        seconds["export (txt)"] = time.perf_counter() - t
        round_.refresh_from_db()
        answers = _bank_answers(round_)
        t = time.perf_counter()
        outcome = bank_return_import(actor=finance, round_id=round_.pk, data=answers)
        seconds["import the return file"] = time.perf_counter() - t
        round_.refresh_from_db()
        assert round_.status == "reconciled", round_.status
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results.append(PaymentResult(size, seconds, peak, outcome.failed, outcome.discrepancies))
    from audit.verify import ledger_verify, replays

    say("[payments] verify_audit over the rounds")
    report = ledger_verify(replayers=replays())
    assert report.ok, report
    return results


def payments_table(results: list[PaymentResult]) -> list[list[str]]:
    head = ["measure", *(f"{r.lines:,} lines" for r in results), "aim"]
    rows = [head]
    for step in results[0].seconds:
        rows.append([f"{step}, s", *(f"{r.seconds[step]:.2f}" for r in results), ""])
    rows.append(["whole round, s", *(f"{r.total:.2f}" for r in results), "≤ 10 s at 10,000"])
    rows.append(["lines/s, whole round", *(f"{r.lines / r.total:,.0f}" for r in results), ""])
    rows.append(
        [
            "failed / amount differs (of the return file)",
            *(f"{r.failed} / {r.discrepancies}" for r in results),
            "",
        ]
    )
    rows.append(
        [
            "peak resident memory of the process, MB",
            *(f"{r.peak_rss_mb:.0f}" for r in results),
            "≤ 300",
        ]
    )
    if len(results) > 1:
        first, last = results[0], results[-1]
        ratio = (last.total / first.total) / (last.lines / first.lines)
        rows.append(["growth: time ratio ÷ size ratio (1 = linear)", "", f"{ratio:.2f}", "≈ 1"])
    return rows


_STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:5.0f} s] {message}", flush=True)


def table(scales: list[Scale]) -> list[list[str]]:
    """The figures at each size; with three sizes or more, the ratio of the largest to the
    smallest for every figure (1.0: flat; the time a step takes, a page's p50 and p95, its
    queries, the verification's rate)."""
    rows = _table(scales)
    if len(scales) < 3:
        return rows
    rows[0].insert(-1, "largest / smallest")
    for row in rows[1:]:
        row.insert(-1, _ratio(row[1], row[-2]))
    return rows


def _ratio(first: str, last: str) -> str:
    """Each number of the last size's cell over the same number of the first's."""
    import re

    number = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?")
    a = [float(x.replace(",", "")) for x in number.findall(first)]
    b = [float(x.replace(",", "")) for x in number.findall(last)]
    return " / ".join(f"{y / x:.2f}" if x else "–" for x, y in zip(a, b, strict=False))


def _table(scales: list[Scale]) -> list[list[str]]:
    head = ["measure", *(f"{s.applications:,} applications" for s in scales), "aim"]
    rows = [head]
    rows.append(
        [
            "transitions/s via services (500 applications × 6 steps, 1 process)",
            *(f"{s.transitions.per_second:,.0f}" for s in scales),
            "",
        ]
    )
    for step, _who in CHAIN:
        rows.append(
            [f"  ms per {step}", *(f"{s.transitions.per_step_ms[step]:.1f}" for s in scales), ""]
        )
    for key in LIST_URLS:
        rows.append(
            [
                f"reviewer list `{key}`: p50 / p95 ms",
                *(f"{s.lists[key].p50_ms:.1f} / {s.lists[key].p95_ms:.1f}" for s in scales),
                "p95 ≤ 50 ms, flat",
            ]
        )
        rows.append(
            [
                f"reviewer list `{key}`: queries (rows in scope)",
                *(f"{s.lists[key].queries} ({s.lists[key].rows:,})" for s in scales),
                "≤ 15",
            ]
        )
    for key in QUEUE_PAGES:
        rows.append(
            [
                f"{key}: p50 / p95 ms, queries (rows)",
                *(
                    f"{s.queues[key].p50_ms:.0f} / {s.queues[key].p95_ms:.0f}, "
                    f"{s.queues[key].queries} ({s.queues[key].rows:,})"
                    for s in scales
                ),
                "p95 ≤ 100 ms, flat",
            ]
        )
    rows.append(
        [
            "inspector's red flags page: p50 / p95 ms, queries (approved applications)",
            *(
                f"{s.flags.p50_ms:.0f} / {s.flags.p95_ms:.0f}, {s.flags.queries} ({s.flags.rows:,})"
                for s in scales
            ),
            "p95 ≤ 200 ms",
        ]
    )
    rows.append(
        [
            "audit verification, entries/s (entries)",
            *(f"{s.verify.per_second:,.0f} ({s.verify.entries:,})" for s in scales),
            "≥ 50,000",
        ]
    )
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def main() -> None:
    url = os.environ.setdefault("DATABASE_URL", BENCH_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    started = time.perf_counter()
    say("recreating the bench database")
    recreate_database(url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    world = world_create()
    if sys.argv[1:] == ["documents"]:
        documents_run(world)
        print(f"total {time.perf_counter() - started:.0f} s")
        return
    if sys.argv[1:] in (["payments"], ["loans"], ["crosscheck"], ["registry"], ["dashboard"]):
        from benchmarks.crosscheck import crosscheck_run
        from benchmarks.dashboard import dashboard_run
        from benchmarks.loans import loans_run
        from benchmarks.registry import registry_run

        stage = sys.argv[1]
        rows = (
            payments_table(payments_run(world))
            if stage == "payments"
            else loans_run(world)
            if stage == "loans"
            else registry_run(world)
            if stage == "registry"
            else dashboard_run(world)
            if stage == "dashboard"
            else crosscheck_run(world)
        )
        print()
        print(render_text(rows))
        print()
        print(render_markdown(rows))
        print(f"total {time.perf_counter() - started:.0f} s")
        return
    million = sys.argv[1:] == ["million"]
    chain_only = million or sys.argv[1:] == ["chain"]
    if sys.argv[1:] and not chain_only:
        raise SystemExit(
            "usage: python -m benchmarks.run "
            "[chain|million|documents|payments|loans|crosscheck|registry|dashboard] "
            f"(not {sys.argv[1:]})"
        )

    scales = []
    sizes = [("10k", SMALL), ("100k", LARGE)] + ([("1M", MILLION)] if million else [])
    for label, target in sizes:
        from applications.models import Application

        missing = target - Application.objects.count() - SERVICE_APPLICATIONS
        say(f"[{label}] bulk-loading {missing:,} applications with their history")
        t = time.perf_counter()
        bulk_applications(world, missing)
        say(f"[{label}] loaded in {time.perf_counter() - t:.0f} s")
        scales.append(measure(world, label))
        # Each size's figures as soon as they are measured: a long run stopped later keeps them.
        print(render_text(table(scales)), flush=True)

    # The chain's table first: the documents stage below takes longer than all of it.
    rows = table(scales)
    print()
    print(render_text(rows))
    print()
    print(render_markdown(rows))
    print(flush=True)
    if not chain_only:
        documents_run(world)
    from django.db import connection

    print(
        f"PostgreSQL {connection.pg_version // 10000}, Python {sys.version.split()[0]}, "  # type: ignore[attr-defined]
        f"{os.cpu_count()} CPUs; total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
