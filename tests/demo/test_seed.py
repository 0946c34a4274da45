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
from decimal import Decimal

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
from loans.models import Loan, LoanParameters, RiskFund, SubsidyClaim
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
    benefits = PaymentLine.objects.filter(status="paid", claim_id__isnull=True)
    assert benefits.values("application").distinct().count() == benefits.count()

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
    # The bank officer sees the loan applications of the bank, from the county's approval on.
    seen = applications_visible_to(users["xindai_gsnx"])
    assert seen.exists()
    assert set(seen.values_list("program__kind", "loan__bank__code").distinct()) == {
        (Program.Kind.LOAN, "gsnx-suzhou")
    }
    loan = Program.objects.get(code=LOAN_CODE)
    assert loan.versions.get().posting_days == 3
    assert LoanParameters.objects.get(version__program=loan).fund_share == 70
    assert has_role_in(users["reviewer_quanhu_b"], Role.TOWNSHIP_REVIEWER, "620902100000")
    for t_code, _t_name, reviewer, villages in TOWNSHIPS:
        assert has_role_in(users[reviewer], Role.TOWNSHIP_REVIEWER, t_code)
        for v_code, _v_name, cadre, count in villages:
            assert has_role_in(users[cadre], Role.VILLAGE_CADRE, v_code)
            assert Household.objects.filter(area_code=v_code).count() == count


def test_seed_demo_lends_repays_subsidises_and_compensates(seeded: str) -> None:
    """The loans of ``demo.loan_story``: one in every status, 毛汉春's two cows, the
    quarterly subsidy paid to households through rounds (and a quarter lost), the fund of
    5,000,000 yuan paying 70% of the bad loans and getting its share of a recovery back."""
    loans = list(Loan.objects.select_related("household"))
    assert {loan.status for loan in loans} == set(Loan.Status.values)
    cows = next(loan for loan in loans if loan.household.head_name == "毛汉春")
    assert (cows.principal, cows.status) == (Decimal("20000.00"), Loan.Status.ACTIVE)
    repaid = next(loan for loan in loans if loan.status == Loan.Status.REPAID)
    claims = SubsidyClaim.objects.filter(loan=repaid)
    assert claims.exists() and {c.status for c in claims} == {SubsidyClaim.Status.PAID}
    paid_lines = PaymentLine.objects.filter(claim_id__in=[c.pk for c in claims], status="paid")
    assert paid_lines.count() == claims.count()
    assert SubsidyClaim.objects.filter(reason__in=["overdue", "not_paid"]).exists()
    fund = RiskFund.objects.get(county_id=COUNTY[0])
    kinds = list(fund.movements.order_by("pk").values_list("kind", "amount"))
    assert kinds[0] == ("deposit", Decimal("5000000.00"))
    compensated = next(loan for loan in loans if loan.status == Loan.Status.COMPENSATED)
    assert compensated.compensation_paid == compensated.principal * Decimal("0.7")
    assert compensated.recovered > 0
    assert ("recovery", compensated.recovered * Decimal("0.7")) in kinds
    statuses = set(
        Application.objects.filter(program__code=LOAN_CODE).values_list("status", flat=True)
    )
    assert {"approved", "bank_approved", "declined", "disbursed"} <= statuses


def test_seed_demo_cross_checks_find_matches_not_near_misses(seeded: str) -> None:
    """The lists of ``demo.crosscheck_story``: one lead per planted match; the cheap
    tricycle, the self-built house, the deregistered shop, the death after the payment and
    the move after the application are not leads; one lead confirmed, one cleared."""
    from crosscheck.models import Lead, ReferenceList, Scan

    assert ReferenceList.objects.count() == 6
    vehicles = ReferenceList.objects.get(kind="vehicle")
    assert vehicles.rows_skipped == 1 and vehicles.skipped[0]["column"] == "身份证号"
    assert Scan.objects.get().status == Scan.Status.DONE
    per_rule = {
        rule: Lead.objects.filter(rule=rule).count()
        for rule in ("vehicle", "property", "business", "public_servant", "deceased", "moved_out")
    }
    assert per_rule == dict.fromkeys(per_rule, 1)
    assert Lead.objects.filter(status="confirmed").count() == 1
    assert Lead.objects.filter(status="cleared", rule="shared_phone").count() == 1
    assert "cross-checks: 6 lists" in seeded


def test_seed_demo_checks_a_registry_sheet_twice(seeded: str) -> None:
    from applications.models import HouseholdImport

    first, second = HouseholdImport.objects.order_by("pk")
    assert first.requested_by.username == "cadre_sibacun"
    assert [(p["row"], p["column"]) for p in first.problems] == [(3, "身份证号"), (5, "开户名")]
    assert second.problem_count == 0 and second.households_found == 3
    assert not first.applied and not second.applied and second.stored_name


def test_seed_demo_dashboard_shows_seed_000_s_share_applying(seeded: str) -> None:
    from workflows.dashboard import dashboard_figures

    approver = get_user_model().objects.get(username="approver")
    figures = {f.key: f for f in dashboard_figures(approver)}
    subsidy = next(r for r in figures["applying"].rows if r.code == SUBSIDY_CODE)
    applied, did_not = subsidy.values
    assert 0.68 <= applied / (applied + did_not) <= 0.70, subsidy
    households = sum(sum(r.values) for r in figures["households"].rows)
    assert households == Household.objects.filter(area_code__startswith="620902").count()
    exited = Household.Status.labels.index(Household.Status.EXITED.label)
    assert sum(r.values[exited] for r in figures["households"].rows) == 6


def test_seed_demo_second_run_changes_nothing(seeded: str) -> None:
    entries = AuditEntry.objects.count()

    code, out = run("seed_demo")

    assert code == 0, out
    assert "already loaded; nothing changed" in out
    assert f"Demo users (password for all: {DEMO_PASSWORD})" in out
    assert AuditEntry.objects.count() == entries
