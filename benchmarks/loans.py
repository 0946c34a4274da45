"""``make bench ARGS=loans``: the microloans' figures of the README's Performance section,
on PostgreSQL (the bench database of ``benchmarks.run``).

1. Schedules: how many loans' repayment schedules ``loans.schedules.schedule`` works out
   per second, for each method (36 months; the median of 3 runs of 10,000).
2. 16 concurrent ``bank_approve`` calls (threads, each its own connection, released
   together) against a fund with room for exactly 4 of the loans: how many succeed.
3. 100,000 active loans bulk-loaded with ``COPY`` (their households, applications, loan
   requests, loans and 1.3 million instalments; drawn one to two years ago, nine in ten
   paying on time), then:
   (a) the daily overdue sweep ``loans_sweep`` over all of them (the median of 3 runs,
       each after the loans' ``swept_on`` is cleared);
   (b) a yearly interest subsidy settlement ``subsidy_settle`` on 20 December of last year
       (every claim of the year: about 400,000; the median of 3 runs, each after the
       claims are deleted).
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from benchmarks.run import World

# FUPIN_BENCH_LOANS: fewer loans, for a quick try of the stage.
LOANS = int(os.environ.get("FUPIN_BENCH_LOANS", "100000"))
SCHEDULES = 10_000
RACERS, ROOM = 16, 4
BANK = ("bench-bank", "甘肃农信肃州区联社")
TZ = ZoneInfo("Asia/Shanghai")


def say(message: str) -> None:
    print(f"[loans] {message}", flush=True)


def schedules_per_second() -> dict[str, float]:
    from loans.schedules import Method, schedule

    out: dict[str, float] = {}
    for method in Method:
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for n in range(SCHEDULES):
                schedule(
                    principal=Decimal(5000 + n % 45000),
                    annual_rate=Decimal("4.75"),
                    months=36,
                    method=method,
                    start=date(2025, 1, 1) + timedelta(days=n % 365),
                )
            runs.append(SCHEDULES / (time.perf_counter() - t))
        out[method.value] = statistics.median(runs)
    return out


def setup(world: World) -> tuple[Any, Any]:
    """The loan program, the bank and its officer (through the services)."""
    from applications.roles import Role
    from applications.services import bank_create, role_grant
    from demo.world import loan_program_create

    admin = world.users["approver"]
    bank_create(actor=None, code=BANK[0], name=BANK[1])
    officer, _created = role_grant(
        actor=None,
        username="bench_xindai",
        role=Role.BANK_OFFICER,
        area_code=world_county(),
        bank_code=BANK[0],
    )
    program = loan_program_create(
        actor=admin,
        county_code=world_county(),
        budget=Decimal("10000000000.00"),
        effective_from=date(2020, 1, 1),
        policy_reference="银监发〔2017〕42号",
    )
    return program, officer


def borrower_id(serial: int) -> str:
    """A valid ID number of a head born on 1 March 1980 (unique by ``serial``)."""
    from applications.idnumbers import id_check_digit

    first17 = f"62090219800301{serial:03d}"
    return first17 + id_check_digit(first17)


def world_county() -> str:
    from benchmarks.run import COUNTY

    return COUNTY


def race_approvals(world: World, program: Any, officer: Any) -> int:
    """16 loan applications of 10,000 yuan brought to the bank through the services; a fund
    of 4,000 yuan (room for 40,000 at ten times); 16 threads approve at once."""
    from django.db import connections

    from approvals.services.filing import application_create, application_edit
    from approvals.services.transitions import application_transition, postings_close_due
    from benchmarks.run import VILLAGES
    from common import clock
    from loans.services.fund import fund_deposit
    from loans.services.lending import loan_approve

    cadre, users = world.users["cadre"], world.users
    start = datetime(2026, 1, 5, 9, tzinfo=TZ)
    ids = []
    with clock.frozen_at(start):
        from applications.services import household_create

        for n in range(RACERS):
            household = household_create(
                actor=cadre,
                area_code=VILLAGES[0],
                head_name=world.name(),
                head_id_number=borrower_id(n),
                household_type="general",
                poverty_causes=["illness"],
                bank_card=world.card(),
                phone=world.phone(),
            )
            app = application_create(
                actor=cadre,
                household_id=household.pk,
                program_id=program.pk,
                loan={
                    "amount": "10000",
                    "months": 36,
                    "purpose_category": "livestock",
                    "purpose": f"养牛 {n}",
                    "repayment_method": "interest_only",
                    "bank": BANK[0],
                },
            )
            application_edit(
                actor=cadre,
                application_id=app.pk,
                appraisal_date=start.date(),
                appraisal_attendees=40,
                appraisal_votes_for=38,
                appraisal_votes_against=1,
            )
            application_transition(actor=cadre, application_id=app.pk, name="submit")
            application_transition(actor=cadre, application_id=app.pk, name="start_posting")
            ids.append(app.pk)
        fund_deposit(
            actor=users["finance"],
            county_code=world_county(),
            amount=Decimal(ROOM * 1000),
            source="bench",
            document_number="bench-1",
            on=start.date(),
        )
    with clock.frozen_at(start + timedelta(days=5)):
        postings_close_due(now=clock.now())
        for pk in ids:
            application_transition(
                actor=users["reviewer"], application_id=pk, name="township_approve"
            )
            application_transition(
                actor=users["approver"], application_id=pk, name="county_approve"
            )
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def approve(pk: int) -> None:
        try:
            barrier.wait(timeout=30)
            with clock.frozen_at(start + timedelta(days=6)):
                loan_approve(
                    actor=officer,
                    application_id=pk,
                    terms={"approved_amount": "10000", "annual_rate": "4.75", "months": 36},
                )
            result = "ok"
        except Exception as exc:  # the outcome is what is counted
            result = getattr(exc, "code", type(exc).__name__)
        finally:
            connections.close_all()
        with lock:
            outcomes.append(str(result))

    threads = [threading.Thread(target=approve, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    refused = {o for o in outcomes if o != "ok"}
    say(f"concurrent approvals: {outcomes.count('ok')} of {RACERS} succeeded; refused {refused}")
    return outcomes.count("ok")


def bulk_loans(world: World, program: Any, count: int) -> None:
    """``count`` loans drawn one to two years ago with their schedules, nine in ten
    paying on time (their instalments due before today are paid on their due dates)."""
    from applications import idnumbers
    from applications.models import Application, Bank, Household, LoanRequest
    from benchmarks.run import VILLAGES, copy_rows, next_id, reset_sequence, row_of
    from common import clock
    from loans.models import Instalment, Loan, LoanParameters
    from loans.schedules import add_months, schedule

    rng = random.Random(7)
    bank = Bank.objects.get(code=BANK[0])
    version = program.versions.get()
    params = LoanParameters.objects.get(version=version)
    cadre = world.users["cadre"]
    officer_id = world.users["finance"].pk
    today = clock.today()
    first_household, first_app = next_id(Household), next_id(Application)
    households, apps, requests, loans, rows = [], [], [], [], []
    now = clock.now()
    card = world.card()
    cipher, lookup, masked = (
        idnumbers.encrypt(card),
        idnumbers.lookup_hash(card),
        idnumbers.mask_bank_card(card),
    )
    for n in range(count):
        village = VILLAGES[n % len(VILLAGES)]
        hid, aid = first_household + n, first_app + n
        name = world.name()
        households.append(
            row_of(
                Household(
                    id=hid,
                    area_id=village,
                    area_code=village,
                    head_name=name,
                    bank_card_holder=name,
                    head_id_masked="620902********0000",
                    household_type=Household.Kind.GENERAL,
                    poverty_causes=["illness"],
                    status=Household.Status.REGISTERED,
                    bank_card_cipher=cipher,
                    bank_card_hash=lookup,
                    bank_card_masked=masked,
                    phone="",
                    created_by_id=cadre.pk,
                    created_at=now,
                )
            )
        )
        amount = Decimal(rng.randrange(5, 51) * 1000)
        # Drawn one to two years ago: every loan has periods due in last year.
        drawn = today - timedelta(days=rng.randrange(380, 730))
        apps.append(
            row_of(
                Application(
                    id=aid,
                    household_id=hid,
                    program_id=program.pk,
                    program_version=version,
                    area_code=village,
                    amount=amount,
                    status=Application.Status.DISBURSED,
                    created_by=cadre,
                    created_at=now,
                    status_changed_at=now,
                )
            )
        )
        requests.append(
            row_of(
                LoanRequest(
                    application_id=aid,
                    bank=bank,
                    amount=amount,
                    months=36,
                    purpose_category="livestock",
                    purpose="养殖",
                    repayment_method="interest_only",
                    approved_amount=amount,
                    annual_rate=Decimal("4.75"),
                    approved_months=36,
                    reference_rate=Decimal("4.75"),
                    decided_by_id=officer_id,
                    decided_at=now,
                )
            )
        )
        lines = schedule(
            principal=amount,
            annual_rate=Decimal("4.75"),
            months=36,
            method="interest_only",
            start=drawn,
            day_count=params.day_count,
        )
        pays = rng.random() < 0.9
        outstanding = amount
        for line in lines:
            paid = pays and line.due_date < today
            if paid:
                outstanding -= line.principal
            rows.append(
                {
                    "loan_id": aid,
                    "seq": line.seq,
                    "start_date": line.start,
                    "due_date": line.due_date,
                    "days": line.days,
                    "principal": line.principal,
                    "interest": line.interest,
                    "balance_before": line.balance_after + line.principal,
                    "principal_paid": line.principal if paid else Decimal("0.00"),
                    "interest_paid": line.interest if paid else Decimal("0.00"),
                    "interest_paid_on": line.due_date if paid else None,
                    "paid_on": line.due_date if paid else None,
                }
            )
        loans.append(
            row_of(
                Loan(
                    application_id=aid,
                    reference=f"DK620902{aid:08d}",
                    bank=bank,
                    household_id=hid,
                    program_version=version,
                    area_code=village,
                    principal=amount,
                    annual_rate=Decimal("4.75"),
                    reference_rate=Decimal("4.75"),
                    months=36,
                    method="interest_only",
                    day_count=params.day_count,
                    drawdown_date=drawn,
                    maturity_date=add_months(drawn, 36),
                    outstanding_principal=outstanding,
                    drawn_by_id=officer_id,
                    created_at=now,
                )
            )
        )
    copy_rows(Household, households)
    copy_rows(Application, apps)
    copy_rows(LoanRequest, requests)
    copy_rows(Loan, loans)
    first_instalment = next_id(Instalment)
    copy_rows(Instalment, ({"id": first_instalment + i, **r} for i, r in enumerate(rows)))
    for model in (Household, Application, Instalment):
        reset_sequence(model)


def sweep_seconds() -> tuple[float, int]:
    from loans.models import Loan
    from loans.services.servicing import loans_sweep

    runs, changed = [], 0
    for _ in range(3):
        Loan.objects.update(swept_on=None, days_past_due=0, status=Loan.Status.ACTIVE)
        t = time.perf_counter()
        changed = loans_sweep()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), changed


def settlement_seconds(world: World, program: Any) -> tuple[float, int]:
    from common import clock
    from loans.models import LoanParameters, SubsidyClaim
    from loans.services.subsidies import subsidy_settle

    LoanParameters.objects.filter(version__program=program).update(settlement="yearly")
    day = date(clock.today().year - 1, 12, 20)
    runs, claims = [], 0
    for _ in range(3):
        SubsidyClaim.objects.all().delete()
        t = time.perf_counter()
        outcome = subsidy_settle(
            actor=world.users["finance"], county_code=world_county(), period_end=day
        )
        runs.append(time.perf_counter() - t)
        claims = outcome.claims
    return statistics.median(runs), claims


def loans_run(world: World) -> list[list[str]]:
    say("schedules")
    rates = schedules_per_second()
    program, officer = setup(world)
    say("16 concurrent bank approvals")
    won = race_approvals(world, program, officer)
    say(f"bulk-loading {LOANS:,} loans with their schedules")
    t = time.perf_counter()
    bulk_loans(world, program, LOANS)
    say(f"loaded in {time.perf_counter() - t:.0f} s")
    say("the daily sweep")
    sweep, swept = sweep_seconds()
    say("the yearly settlement")
    settle, claims = settlement_seconds(world, program)
    rows = [["measure", "result"]]
    for method, rate in rates.items():
        rows.append([f"schedules per second ({method}, 36 months)", f"{rate:,.0f}"])
    rows.append([f"concurrent bank_approve: succeeded of {RACERS}, room for {ROOM}", f"{won}"])
    rows.append([f"daily sweep of {LOANS:,} loans ({swept:,} changed)", f"{sweep:.1f} s"])
    rows.append([f"yearly settlement ({claims:,} claims)", f"{settle:.1f} s"])
    return rows
