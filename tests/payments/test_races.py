"""Never twice, with two people at the same moment (PostgreSQL: real row locks, real threads):
two rounds drawn up at once never share an application; one return file imported twice at
once is applied once; nobody's round pays an application twice."""

from __future__ import annotations

import pytest

from applications.models import Application
from applications.roles import Role
from applications.services import role_grant
from approvals.models import Decision
from common.errors import Refused
from payments.models import PaymentLine, PaymentRound, ReturnImport
from payments.services.bank_files import bank_return_import
from payments.services.rounds import payment_round_create
from tests.factories import COUNTY, TOWNSHIP_1, World, race
from tests.payments.test_services import all_paid, payable, return_file, sent_round

S = Application.Status
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("flushable_ledger"),
]


def _second_finance_officer(world: World) -> object:
    other, _granted = role_grant(
        actor=None, username="finance_a2", role=Role.FINANCE_OFFICER, area_code=COUNTY
    )
    return other


def test_two_rounds_drawn_up_at_once_never_share_an_application(world: World) -> None:
    apps = payable(world, 4)
    other = _second_finance_officer(world)

    outcomes = race(
        lambda: payment_round_create(
            actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
        ),
        lambda: payment_round_create(
            actor=other,  # type: ignore[arg-type]
            program_id=world.program.pk,
            area_code=TOWNSHIP_1,
        ),
    )

    # The second waits for the first's locks, then finds nothing left to pay.
    assert outcomes.count("ok") == 1
    assert [o.code for o in outcomes if isinstance(o, Refused)] == ["nothing_payable"]
    holding = PaymentLine.objects.filter(status__in=PaymentLine.HOLDING)
    assert sorted(holding.values_list("application_id", flat=True)) == sorted(a.pk for a in apps)
    assert PaymentRound.objects.count() == 1


def test_one_return_file_imported_twice_at_once_is_applied_once(world: World) -> None:
    round_, apps = sent_round(world, 3)
    data = return_file(round_, all_paid(round_))
    other = _second_finance_officer(world)

    outcomes = race(
        lambda: bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=data),
        lambda: bank_return_import(actor=other, round_id=round_.pk, data=data),  # type: ignore[arg-type]
    )

    assert outcomes == ["ok", "ok"]
    assert ReturnImport.objects.filter(round=round_).count() == 1
    for app in apps:
        assert Decision.objects.filter(application=app, transition="disburse").count() == 1
    assert PaymentLine.objects.filter(round=round_, status=PaymentLine.Status.PAID).count() == 3
