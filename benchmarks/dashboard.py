"""``make bench ARGS=dashboard``: the home page's dashboard (issue 16) on PostgreSQL, at
100,000 households and 1,000,000 applications (FUPIN_BENCH_DASHBOARD_HOUSEHOLDS and
_APPLICATIONS), in the bench database of ``benchmarks.run``.

The dashboard reads rows, not histories, so the rows are written by ``COPY`` alone: the
households of the county's 80 villages, and ten applications each over the years, of the
subsidy and the microloan programs: the past ones closed (paid, rejected, withdrawn), at
most one open per household and program (the database's own constraint holds). Then
``ANALYZE``, and the pages and the API timed through the whole stack (middleware, session,
the selectors, the template), 20 requests after 3 to warm up: the county approver's home
page, a township reviewer's, an inspector's, and the API's JSON. The figures read the
per-village tallies that the timers count again every minute (``tallies_refresh``), whose
own time is measured too."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.run import World

HOUSEHOLDS = int(os.environ.get("FUPIN_BENCH_DASHBOARD_HOUSEHOLDS", "100000"))
APPLICATIONS = int(os.environ.get("FUPIN_BENCH_DASHBOARD_APPLICATIONS", "1000000"))
CHUNK = 50_000


def say(message: str) -> None:
    print(f"[dashboard] {message}", flush=True)


def load(world: World) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from applications import idnumbers
    from applications.models import Application, Household, Program
    from benchmarks.run import VILLAGES, copy_rows, next_id, reset_sequence
    from demo.world import loan_program_create

    admin = world.users["approver"]
    loan = loan_program_create(
        actor=None,
        county_code="620902000000",
        budget=Decimal("50000000.00"),
        effective_from=world.version.effective_from,
        policy_reference="银监发〔2017〕42号",
    )
    programs = [
        (world.program_id, world.version.pk, Decimal("5000.00")),
        (loan.pk, loan.versions.get().pk, Decimal("30000.00")),
    ]
    rng = world.rng
    now = timezone.now()
    cipher = idnumbers.encrypt("6228480000000000000")
    first = next_id(Household)
    say(f"COPY {HOUSEHOLDS:,} households")
    with transaction.atomic():
        copy_rows(
            Household,
            (
                {
                    "id": first + n,
                    "area_id": VILLAGES[n % len(VILLAGES)],
                    "area_code": VILLAGES[n % len(VILLAGES)],
                    "head_name": world.name(),
                    "head_id_masked": "620902********0000",
                    "household_type": rng.choice(["general", "general", "subsistence", "extreme"]),
                    "poverty_causes": ["capital"],
                    "status": rng.choice(["registered"] * 6 + ["exited"] * 3 + ["returned"]),
                    "status_since": None,
                    "bank_card_cipher": cipher,
                    "bank_card_hash": f"{first + n:064x}",
                    "bank_card_masked": "6228 **** **** 0000",
                    "bank_card_holder": "户主",
                    "bank_card_changed_at": None,
                    "phone": "13900000000",
                    "created_by_id": admin.pk,
                    "created_at": now,
                }
                for n in range(HOUSEHOLDS)
            ),
        )
    reset_sequence(Household)
    closed = ["disbursed"] * 7 + ["rejected", "withdrawn"]
    open_ = ["draft", "submitted", "posted", "township_review", "county_review", "approved"]
    per = max(1, APPLICATIONS // HOUSEHOLDS)
    app_id = next_id(Application)
    written = 0
    say(f"COPY {APPLICATIONS:,} applications ({per} per household)")
    while written < APPLICATIONS:
        rows: list[dict[str, Any]] = []
        while len(rows) < CHUNK and written + len(rows) < APPLICATIONS:
            n = (written + len(rows)) // per
            k = (written + len(rows)) % per
            household = first + n % HOUSEHOLDS
            program, version, amount = programs[k % 2]
            # The newest two (one per program) may be open; the older ones are closed.
            status = rng.choice(open_ + closed) if k >= per - 2 else rng.choice(closed)
            moment = now - timedelta(days=(per - k) * 120 + rng.randrange(0, 60))
            rows.append(
                {
                    "id": app_id,
                    "household_id": household,
                    "program_id": program,
                    "program_version_id": version,
                    "area_code": VILLAGES[(household - first) % len(VILLAGES)],
                    "status": status,
                    "amount": amount,
                    "appraisal_date": None,
                    "appraisal_attendees": None,
                    "appraisal_votes_for": None,
                    "appraisal_votes_against": None,
                    "posting_started_at": None,
                    "posting_ends_at": None,
                    "created_by_id": admin.pk,
                    "submitted_by_id": None,
                    "township_approved_by_id": None,
                    "county_approved_by_id": None,
                    "disbursed_by_id": None,
                    "last_reason": "",
                    "created_at": moment,
                    "status_changed_at": moment,
                }
            )
            app_id += 1
        with transaction.atomic():
            copy_rows(Application, rows)
        written += len(rows)
    reset_sequence(Application)
    # What the approvals committed and paid, as the county's approval keeps it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE applications_program p SET committed = COALESCE((SELECT SUM(amount) FROM "
            "applications_application a WHERE a.program_id = p.id AND a.status IN "
            "('approved', 'disbursed')), 0), budget = GREATEST(budget, COALESCE((SELECT "
            "SUM(amount) FROM applications_application a WHERE a.program_id = p.id), 0)) "
            "WHERE p.kind = 'subsidy'"
        )
        cursor.execute("ANALYZE")
    say(
        f"{Household.objects.count():,} households, {Application.objects.count():,} "
        f"applications, {Program.objects.count()} programs"
    )


def dashboard_run(world: World) -> list[list[str]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from benchmarks.run import percentile
    from workflows.dashboard import dashboard_figures
    from workflows.services import tallies_refresh

    started = time.perf_counter()
    load(world)
    rows: list[list[str]] = [["dashboard (PostgreSQL)", "p50 / p95"]]
    rows.append(["loaded", f"{time.perf_counter() - started:.0f} s"])
    # What the timers do every minute: the county's tallies counted again.
    counts = []
    for _ in range(5):
        t = time.perf_counter()
        tallies_refresh(counties=["620902"])
        counts.append((time.perf_counter() - t) * 1000)
    rows.append(
        [
            "the timers' count of the county's tallies (5 runs)",
            f"{percentile(counts, 0.5):.0f} / {max(counts):.0f} ms",
        ]
    )
    say(f"tallies counted: {rows[-1][1]}")
    User = get_user_model()
    cases = [
        ("county approver's home page (/)", "approver", "/"),
        ("township reviewer's home page", "reviewer", "/"),
        ("inspector's home page", "inspector", "/"),
        ("GET /api/v1/dashboard/ (county)", "approver", "/api/v1/dashboard/"),
        ("one figure as CSV (/dashboard/stages.csv)", "approver", "/dashboard/stages.csv"),
    ]
    for label, username, url in cases:
        client = Client()
        client.force_login(User.objects.get(username=username))
        times = []
        for i in range(23):
            t = time.perf_counter()
            response = client.get(url)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
            elapsed = (time.perf_counter() - t) * 1000
            assert response.status_code == 200, response.status_code
            if i >= 3:
                times.append(elapsed)
        rows.append([label, f"{percentile(times, 0.5):.0f} / {percentile(times, 0.95):.0f} ms"])
        say(f"{label}: {rows[-1][1]}")
    figures = dashboard_figures(User.objects.get(username="approver"))
    stages = next(f for f in figures if f.key == "stages")
    rows.append(
        [
            "applications counted by the stages figure",
            f"{sum(sum(r.values) for r in stages.rows):,}",
        ]
    )
    return rows
