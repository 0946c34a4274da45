"""What inspectors write (``inspection.services``): the record of an export and of a
verification, and the one check of the ledger (``ledger_check``) with the registered replays."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from applications.models import Application
from audit.models import AuditEntry
from audit.verify import Entry, Problem, replay_register, replay_unregister
from inspection.services import audit_export_record, audit_verify, ledger_check
from tests.factories import VILLAGE_B, World

pytestmark = pytest.mark.django_db

S = Application.Status


def test_audit_export_record_writes_one_entry_in_the_inspectors_county(world: World) -> None:
    audit_export_record(actor=world.user("inspector_a"), kind="csv", search="actor=cadre_v1")

    [entry] = AuditEntry.objects.filter(action="audit.export")
    assert (entry.actor_name, entry.chain, entry.object_type) == ("inspector_a", "620902", "ledger")
    assert entry.changes == {"format": [None, "csv"], "search": [None, "actor=cadre_v1"]}


def test_audit_verify_reports_an_intact_county_chain_and_records_it(world: World) -> None:
    world.application(S.APPROVED)

    report = audit_verify(actor=world.user("inspector_a"))

    assert report.ok and report.chains == 1 and report.entries > 0
    [entry] = AuditEntry.objects.filter(action="audit.verify")
    assert (entry.actor_name, entry.chain) == ("inspector_a", "620902")
    assert entry.changes == {
        "ok": [None, True],
        "entries": [None, str(report.entries)],
        "problems": [None, "0"],
    }


def test_audit_verify_hears_only_of_the_inspectors_county(
    world: World, append_only_bypassed: Callable[[], Any]
) -> None:
    theirs = world.application(S.SUBMITTED, area_code=VILLAGE_B)
    with append_only_bypassed():
        AuditEntry.objects.filter(object_type="application", object_id=str(theirs.pk)).update(
            reason="forged"
        )

    ours = audit_verify(actor=world.user("inspector_a"))
    report = audit_verify(actor=world.user("inspector_b"))

    assert ours.ok
    assert not report.ok and {p.chain for p in report.problems} == {"620903"}
    entry = AuditEntry.objects.get(action="audit.verify", actor_name="inspector_b")
    assert entry.changes["ok"] == [None, False]
    assert entry.reason == str(report.problems[0])


# --- the replays registered by other apps ---------------------------------------------------


class LoanReplay:
    """What a later app (loans, payments) registers: it is fed every entry it is given and
    reports one problem, in county A's chain, naming how many entries it saw."""

    def __init__(self) -> None:
        self.fed = 0

    def feed(self, entry: Entry) -> None:
        self.fed += 1

    def problems(self) -> Iterator[Problem]:
        yield Problem("620902", None, None, "loan differs", f"replayed {self.fed} entries")


@pytest.fixture
def loan_replay() -> Iterator[None]:
    replay_register(LoanReplay)
    yield
    replay_unregister(LoanReplay)


def test_ledger_check_reports_a_registered_replays_problem(world: World, loan_replay: None) -> None:
    world.application(S.APPROVED)

    report = ledger_check()

    assert [(p.kind, p.detail) for p in report.problems] == [
        ("loan differs", f"replayed {report.entries} entries")
    ]


def test_ledger_check_of_a_chain_keeps_to_the_chains_problems(
    world: World, loan_replay: None
) -> None:
    world.application(S.APPROVED)
    world.application(S.APPROVED, area_code=VILLAGE_B)

    ours, theirs = ledger_check(chain="620902"), ledger_check(chain="620903")

    assert [p.kind for p in ours.problems] == ["loan differs"]
    assert theirs.ok


def test_registered_replay_is_used_by_the_page_and_the_command(
    world: World, loan_replay: None
) -> None:
    world.application(S.APPROVED)
    client = Client()
    client.force_login(world.user("inspector_a"))
    out, err = io.StringIO(), io.StringIO()

    page = client.post(reverse("inspection:audit_verify")).context["report"]
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit", stdout=out, stderr=err)

    assert [p.kind for p in page.problems] == ["loan differs"]
    assert exit_.value.code == 1
    assert err.getvalue().startswith("FAILED: chain 620902: loan differs: replayed ")
    assert out.getvalue() == ""
