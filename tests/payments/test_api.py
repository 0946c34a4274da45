"""The payment rounds API: draw up, read (masked cards), approve, download the bank file,
upload the return file, and the refusals with their codes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from applications.models import Application
from applications.services import household_update
from audit.models import AuditEntry
from common import clock
from payments.models import PaymentRound
from tests.factories import COUNTY, World, bank_card_number
from tests.payments.test_services import all_paid, payable, return_file

Login = Callable[..., APIClient]
S = Application.Status
ROUNDS = "/api/v1/payment-rounds/"
pytestmark = pytest.mark.django_db


def _create(world: World, api: Login) -> dict[str, Any]:
    response = api("finance_a").post(
        ROUNDS, {"program": world.program.pk, "area": COUNTY}, format="json"
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_a_round_through_the_api_from_draft_to_reconciled(world: World, api: Login) -> None:
    apps = payable(world, 2)
    created = _create(world, api)
    round_id = created["id"]
    assert (created["status"], created["count"]) == ("draft", 2)
    lines = created["lines"]
    assert isinstance(lines, list) and all("*" in line["card_masked"] for line in lines)

    approved = api("approver_a").post(f"{ROUNDS}{round_id}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    download = api("finance_a").get(f"{ROUNDS}{round_id}/bank-file/?format=txt")
    assert download.status_code == 200
    assert download.content.decode("gb18030").startswith(f"H|{created['reference']}|")
    assert download["X-Content-SHA256"]

    round_ = PaymentRound.objects.get(pk=round_id)
    upload = SimpleUploadedFile("return.txt", return_file(round_, all_paid(round_)))
    answered = api("finance_a").post(f"{ROUNDS}{round_id}/bank-return/", {"file": upload})
    assert answered.status_code == 200, answered.content
    assert (answered.json()["paid"], answered.json()["round"]["status"]) == (2, "reconciled")
    assert all(Application.objects.get(pk=a.pk).status == S.DISBURSED for a in apps)


def test_the_maker_approving_is_refused_with_its_code(world: World, api: Login) -> None:
    payable(world, 1)
    created = _create(world, api)

    response = api("finance_a").post(f"{ROUNDS}{created['id']}/approve/")

    assert (response.status_code, response.json()["code"]) == (409, "separation_of_duties")


def test_a_bad_return_file_is_refused_with_every_problem_and_changes_nothing(
    world: World, api: Login
) -> None:
    payable(world, 1)
    created = _create(world, api)
    api("approver_a").post(f"{ROUNDS}{created['id']}/approve/")
    api("finance_a").get(f"{ROUNDS}{created['id']}/bank-file/")
    entries = AuditEntry.objects.count()
    bad = b"H|PR0|20261301|2|x\r\nD|nope\r\n"

    response = api("finance_a").post(
        f"{ROUNDS}{created['id']}/bank-return/", {"file": SimpleUploadedFile("r.txt", bad)}
    )

    assert response.status_code == 400
    problems = response.json()["file"]
    assert len(problems) >= 2 and all(isinstance(p, str) and p for p in problems)
    assert AuditEntry.objects.count() == entries
    assert PaymentRound.objects.get(pk=created["id"]).status == "sent"


def test_rounds_of_another_county_are_not_found(world: World, api: Login) -> None:
    payable(world, 1)
    created = _create(world, api)

    detail = api("finance_b").get(f"{ROUNDS}{created['id']}/")
    approve = api("finance_b").post(f"{ROUNDS}{created['id']}/approve/")

    assert (detail.status_code, approve.status_code) == (404, 404)
    assert approve.json()["code"] == "not_found"
    assert api("finance_b").get(ROUNDS).json()["count"] == 0


def test_the_budget_shows_committed_in_rounds_paid_and_failed(world: World, api: Login) -> None:
    from payments.services.bank_files import bank_return_import
    from tests.payments.test_services import sent_round

    round_, _apps = sent_round(world, 2)
    paid_line, failed_line = round_.lines.order_by("reference")
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(
            round_,
            {
                paid_line.reference: ("0000", "成功", None),
                failed_line.reference: ("3002", "户名不符", None),
            },
        ),
    )
    world.program.refresh_from_db()

    body = api("finance_a").get(f"{ROUNDS}budget/?program={world.program.pk}").json()

    assert body["paid"] == f"{paid_line.amount:.2f}"
    assert body["failed"] == f"{failed_line.amount:.2f}"
    assert body["in_rounds"] == "0.00"
    assert body["committed"] == f"{world.program.committed:.2f}"
    assert api("finance_b").get(f"{ROUNDS}budget/?program={world.program.pk}").status_code == 404
    # Its card fixed, the failed application is paid in a later round: no longer "failed".
    failed_app = failed_line.application
    household_update(
        actor=world.user("cadre_v1"),
        household_id=failed_app.household_id,
        bank_card=bank_card_number(),
    )
    with clock.frozen_at(clock.now() + timedelta(days=31)):  # past the card-change hold
        world.pay([failed_app])
    again = api("finance_a").get(f"{ROUNDS}budget/?program={world.program.pk}").json()
    assert again["failed"] == "0.00"
    assert again["paid"] == f"{paid_line.amount + failed_line.amount:.2f}"
