"""After payment (事后公告): a reconciled round's paid lines on their villages' notice boards,
names masked, for the program's announcement days; nothing before reconciliation, nothing
failed, never a card."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from applications import idnumbers
from applications.idnumbers import mask_name
from applications.models import ProgramVersion
from common import clock
from payments.models import PaymentRound
from payments.services.bank_files import bank_return_import
from tests.factories import VILLAGE_1, World
from tests.payments.test_services import return_file, sent_round

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王", "王"),
        ("王芳", "王*"),
        ("王怀玉", "王*玉"),
        ("欧阳建国", "欧**国"),
        ("阿依·买提", "阿*·*提"),
    ],
)
def test_names_are_masked_as_an_announcement_shows_them(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def _answer(round_: PaymentRound, world: World, failed: str | None = None) -> None:
    answers = {
        line.reference: ("3002", "户名不符", None)
        if line.reference == failed
        else ("0000", "成功", None)
        for line in round_.lines.all()
    }
    bank_return_import(
        actor=world.user("finance_a"), round_id=round_.pk, data=return_file(round_, answers)
    )


def test_a_reconciled_round_is_announced_on_the_village_board_for_its_days(
    world: World,
) -> None:
    ProgramVersion.objects.filter(program=world.program).update(announcement_days=10)
    round_, _apps = sent_round(world, 2)
    paid, failed = round_.lines.order_by("reference")
    board = Client()

    before = board.get(f"/notice/{VILLAGE_1}/")
    _answer(round_, world, failed=failed.reference)
    round_.refresh_from_db()
    assert round_.reconciled_at is not None
    during = board.get(f"/notice/{VILLAGE_1}/").content.decode()
    index = board.get("/notice/").content.decode()
    with clock.frozen_at(round_.reconciled_at + timedelta(days=10, minutes=1)):
        after = board.get(f"/notice/{VILLAGE_1}/").content.decode()

    assert 'id="payments"' not in before.content.decode()
    assert round_.announced_until == round_.reconciled_at + timedelta(days=10)
    assert mask_name(paid.payee_name) in during
    assert paid.payee_name not in during  # the full name is not shown
    assert mask_name(failed.payee_name) not in during.split('id="payments"')[1]
    assert f"{paid.amount}" in during
    card = idnumbers.decrypt(paid.card_cipher)
    assert card not in during and paid.card_masked not in during
    assert f"/notice/{VILLAGE_1}/" in index
    assert 'id="payments"' not in after


def test_a_round_still_waiting_for_answers_is_not_announced(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first = round_.lines.order_by("reference").first()
    assert first is not None
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {first.reference: ("0000", "成功", None)}),
    )

    round_.refresh_from_db()
    page = Client().get(f"/notice/{VILLAGE_1}/").content.decode()

    assert round_.status == PaymentRound.Status.SENT and round_.announced_until is None
    assert 'id="payments"' not in page
