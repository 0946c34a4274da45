"""``manage.py seed_demo`` (``demo.seed``) on the test database: the demo county loads
through the services, its ledger verifies, its processes wait where their applications
stand, and it holds what its docstring promises.

The suite's shared world (``tests/factories.py``) already has a program with the demo's
code in the same county, which the command takes for "already loaded": each test first
renames that program (inside its own transaction, rolled back at its end)."""

from __future__ import annotations

import io
import math
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from applications.chains import SUBSIDY
from applications.models import Application, Bank, Household, Program
from applications.roles import REVEAL_PERMISSION, Role
from applications.selectors import applications_visible_to, bank_posts_of, has_role_in
from audit.models import AuditEntry
from common import clock
from demo.seed import COUNTY, DEMO_PASSWORD, PEN_CODE, TOWNSHIPS, demo_users
from demo.world import LOAN_CODE, SUBSIDY_CODE
from loans.models import LoanParameters
from payments.models import Acceptance, AcceptanceSample, PaymentLine, PaymentRound
from payments.services.acceptance import sample_redraw
from tests.factories import World
from workflows.selectors import process_divergences

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DEMO_CHAIN = COUNTY[0][:6]


def run(name: str, *args: str) -> tuple[int, str]:
    """Run a command; (exit code, output)."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=out)
    except SystemExit as exit_:
        return (exit_.code if isinstance(exit_.code, int) else 1), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def seeded(world: World) -> str:
    """The demo county loaded by ``seed_demo``; its output."""
    Program.objects.filter(code=SUBSIDY_CODE).update(code="tests-" + SUBSIDY_CODE)
    code, out = run("seed_demo")
    assert code == 0, out
    assert "Demo county loaded" in out
    return out


def demo_applications() -> list[Application]:
    return list(Application.objects.filter(program__code=SUBSIDY_CODE))


def test_seed_demo_ledger_verifies_and_processes_agree(seeded: str) -> None:
    code, out = run("verify_audit")

    assert code == 0, out
    assert out.startswith("OK:")
    assert "every application matches its history" in out
    assert demo_applications()
    assert not process_divergences().exists()


def test_seed_demo_holds_what_it_promises(seeded: str) -> None:
    """The module docstring's promises: applications in every state of the chain (some
    postings open, some overdue), a history written over weeks in time order, the two
    families of seed 000, the loan program, and one user per role on the right areas,
    all signing in with the published password."""
    applications = demo_applications()
    now = clock.now()

    subsidies = [a for a in applications if a.program.kind == Program.Kind.SUBSIDY]
    assert {app.status for app in subsidies} == set(SUBSIDY.statuses)
    ends = [a.posting_ends_at for a in applications if a.status == Application.Status.POSTED]
    assert all(end is not None for end in ends)
    assert any(end is not None and end > now for end in ends)
    assert any(end is not None and end <= now for end in ends)

    entries = list(
        AuditEntry.objects.filter(chain=DEMO_CHAIN, action__startswith="application.")
        .order_by("seq")
        .values_list("created_at", flat=True)
    )
    assert entries == sorted(entries)
    assert entries[-1] < now
    # The simulated clock stamped the rows too: filed over weeks, not all just now.
    created = sorted(a.created_at for a in applications)
    assert created[-1] - created[0] > timedelta(weeks=6)
    assert all(a.status_changed_at >= a.created_at for a in applications)

    by_head = {a.household.head_name: a for a in applications}
    assert by_head["王怀玉"].status == Application.Status.DISBURSED
    assert by_head["王怀玉"].amount == 5000
    assert by_head["毛汉春"].status == Application.Status.APPROVED
    assert Program.objects.filter(code=LOAN_CODE, kind=Program.Kind.LOAN).exists()

    # Money through the bank: every round reconciled, the two failures of the first named
    # round (户名不符, 账户已销户) and the closed account paid in the next one.
    rounds = list(PaymentRound.objects.order_by("pk"))
    assert rounds and all(r.status == PaymentRound.Status.RECONCILED for r in rounds)
    failures = set(
        PaymentLine.objects.filter(status="failed").values_list("failure_reason", flat=True)
    )
    assert failures == {"户名不符", "账户已销户"}
    paid_twice = PaymentLine.objects.filter(status="paid").values("application").distinct()
    assert paid_twice.count() == PaymentLine.objects.filter(status="paid").count()

    # The pen program pays after acceptance: one failed visit, one not visited, the county's
    # sample (20%, drawn again from its seed) with one re-check; only accepted pens paid.
    pen = Program.objects.get(code=PEN_CODE)
    assert pen.versions.get().acceptance_required
    visits = Acceptance.objects.filter(application__program=pen)
    assert list(visits.values_list("result", flat=True)).count("failed") == 1
    sample = AcceptanceSample.objects.get(program=pen)
    chosen = sorted(sample.items.values_list("application_id", flat=True))
    assert sample_redraw(seed=sample.seed, population=sample.population, percent=20) == chosen
    assert len(chosen) == math.ceil(len(sample.population) * 0.2)
    paid_pens = set(
        Application.objects.filter(program=pen, status="disbursed").values_list("pk", flat=True)
    )
    passed = set(visits.filter(result="passed").values_list("application_id", flat=True))
    assert paid_pens and paid_pens <= passed

    User = get_user_model()
    names = [row[0] for row in demo_users()]
    users = {u.get_username(): u for u in User.objects.filter(username__in=names)}
    county = COUNTY[0]
    assert set(users) == set(names)
    assert all(u.check_password(DEMO_PASSWORD) for u in users.values())
    assert users["admin"].is_superuser
    assert has_role_in(users["approver"], Role.COUNTY_APPROVER, county)
    assert has_role_in(users["finance"], Role.FINANCE_OFFICER, county)
    assert has_role_in(users["inspector"], Role.INSPECTOR, county)
    assert has_role_in(users["inspector"], REVEAL_PERMISSION, county)
    # The county's microloan bank and its officer, who sees nothing of the registry.
    assert bank_posts_of(users["xindai_gsnx"]) == [
        (Bank.objects.get(code="gsnx-suzhou").pk, county)
    ]
    assert not applications_visible_to(users["xindai_gsnx"]).exists()
    loan = Program.objects.get(code=LOAN_CODE)
    assert loan.versions.get().posting_days == 3
    assert LoanParameters.objects.get(version__program=loan).fund_share == 70
    assert has_role_in(users["reviewer_quanhu_b"], Role.TOWNSHIP_REVIEWER, "620902100000")
    for t_code, _t_name, reviewer, villages in TOWNSHIPS:
        assert has_role_in(users[reviewer], Role.TOWNSHIP_REVIEWER, t_code)
        for v_code, _v_name, cadre, count in villages:
            assert has_role_in(users[cadre], Role.VILLAGE_CADRE, v_code)
            assert Household.objects.filter(area_code=v_code).count() == count


def test_seed_demo_second_run_changes_nothing(seeded: str) -> None:
    entries = AuditEntry.objects.count()

    code, out = run("seed_demo")

    assert code == 0, out
    assert "already loaded; nothing changed" in out
    assert f"Demo users (password for all: {DEMO_PASSWORD})" in out
    assert AuditEntry.objects.count() == entries
