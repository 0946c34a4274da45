"""Payment rounds end to end through the services: drawing up, approving, cancelling, the bank
file, the return file (paid, failed, short), reissue after a failure, never twice, and the
audit replay catching a paid line edited by SQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from applications import idnumbers
from applications.models import Application, Household
from applications.services import household_update
from audit.models import AuditEntry
from audit.verify import ledger_verify, replays
from common.errors import Code, Forbidden, InvalidInput, Refused
from payments.models import PaymentLine, PaymentRound, RoundExclusion
from payments.services.bank_files import (
    ReturnFileRefused,
    bank_file_export,
    bank_return_import,
)
from payments.services.rounds import (
    payment_round_approve,
    payment_round_cancel,
    payment_round_create,
)
from tests.factories import (
    COUNTY,
    TOWNSHIP_1,
    World,
    all_paid,
    bank_card_number,
    return_file,
    upload_signed_agreement,
)

__all__ = ["all_paid", "payable", "return_file", "sent_round"]

S = Application.Status
pytestmark = pytest.mark.django_db


def payable(world: World, n: int = 1) -> list[Application]:
    apps = []
    for _ in range(n):
        app = world.application(S.APPROVED)
        upload_signed_agreement(actor=world.user("cadre_v1"), application_id=app.pk)
        apps.append(app)
    return apps


def sent_round(world: World, n: int = 2) -> tuple[PaymentRound, list[Application]]:
    apps = payable(world, n)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)
    bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)
    round_.refresh_from_db()
    return round_, apps


# --- drawing up ------------------------------------------------------------------------------


def test_round_takes_the_payable_and_lists_the_rest_with_codes(world: World) -> None:
    ok = payable(world, 2)
    unsigned = world.application(S.APPROVED)  # no signed agreement
    in_review = world.application(S.COUNTY_REVIEW)

    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    lines = list(round_.lines.order_by("reference"))
    assert sorted(line.application_id for line in lines) == sorted(a.pk for a in ok)
    assert (round_.count, round_.total) == (2, sum((a.amount for a in ok), Decimal("0")))
    assert [line.reference for line in lines] == [
        f"{round_.reference}-00001",
        f"{round_.reference}-00002",
    ]
    assert all(line.card_masked and "*" in line.card_masked for line in lines)
    excluded = {e.application_id: e.code for e in RoundExclusion.objects.filter(round=round_)}
    assert excluded == {unsigned.pk: Code.SIGNED_AGREEMENT_MISSING}
    assert in_review.pk not in excluded  # not approved: not a candidate at all
    entry = AuditEntry.objects.get(action="payment_round.create")
    assert entry.object_id == round_.reference


def test_an_application_is_in_one_open_round_only(world: World) -> None:
    payable(world, 1)
    payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    with pytest.raises(Refused) as refused:
        payment_round_create(
            actor=world.user("finance_a"), program_id=world.program.pk, area_code=TOWNSHIP_1
        )

    assert refused.value.code == Code.NOTHING_PAYABLE
    assert PaymentRound.objects.count() == 1


def test_the_database_refuses_a_second_open_line(world: World) -> None:
    from django.db import IntegrityError, transaction

    [app] = payable(world, 1)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    line = round_.lines.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentLine.objects.create(
            round=round_,
            application=app,
            household_id=app.household_id,
            reference="X-1",
            payee_name=line.payee_name,
            card_cipher=line.card_cipher,
            card_hash=line.card_hash,
            card_masked=line.card_masked,
            id_cipher=line.id_cipher,
            amount=line.amount,
        )


def test_only_a_finance_officer_draws_up_a_round(world: World) -> None:
    payable(world, 1)

    with pytest.raises(Forbidden) as refused:
        payment_round_create(
            actor=world.user("approver_a"), program_id=world.program.pk, area_code=COUNTY
        )

    assert refused.value.code == Code.ROLE


# --- approving, cancelling -------------------------------------------------------------------


def test_the_maker_never_approves_their_own_round(world: World) -> None:
    payable(world, 1)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    with pytest.raises(Refused) as refused:
        payment_round_approve(actor=world.user("finance_a"), round_id=round_.pk)

    assert refused.value.code == Code.SEPARATION_OF_DUTIES
    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.DRAFT


def test_approval_freezes_the_list_and_records_its_digest(world: World) -> None:
    payable(world, 2)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    approved = payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)

    assert approved.status == PaymentRound.Status.APPROVED
    assert len(approved.list_sha256) == 64
    entry = AuditEntry.objects.get(action="payment_round.approve")
    assert entry.changes["list_sha256"] == [None, approved.list_sha256]


def test_cancel_lets_the_applications_go_to_a_later_round(world: World) -> None:
    payable(world, 1)
    first = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    payment_round_cancel(actor=world.user("finance_a"), round_id=first.pk, reason="名单有误")

    second = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    assert second.count == 1
    first.refresh_from_db()
    assert first.status == PaymentRound.Status.CANCELLED


def test_a_sent_round_is_not_cancelled(world: World) -> None:
    round_, _apps = sent_round(world, 1)

    with pytest.raises(Refused) as refused:
        payment_round_cancel(actor=world.user("finance_a"), round_id=round_.pk, reason="x")

    assert refused.value.code == Code.WRONG_STATE


# --- the bank file ---------------------------------------------------------------------------


def test_bank_file_holds_the_full_card_and_is_audited(world: World) -> None:
    [app] = payable(world, 1)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)

    out = bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)

    text = out.data.decode("gb18030")
    card = idnumbers.decrypt(Household.objects.get(pk=app.household_id).bank_card_cipher)
    assert text.startswith(f"H|{round_.reference}|")
    assert f"|{card}|{app.amount:.2f}|" in text
    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.SENT
    entry = AuditEntry.objects.get(action="payment_round.export")
    assert entry.changes["sha256"] == [None, out.sha256]


def test_a_draft_round_has_no_bank_file(world: World) -> None:
    payable(world, 1)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    with pytest.raises(Refused) as refused:
        bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)

    assert refused.value.code == Code.WRONG_STATE


# --- the return file -------------------------------------------------------------------------


def test_a_paid_line_disburses_its_application_with_the_bank_transaction(world: World) -> None:
    round_, apps = sent_round(world, 2)

    outcome = bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, all_paid(round_)),
    )

    assert (outcome.paid, outcome.failed, outcome.discrepancies) == (2, 0, 0)
    for app in apps:
        app.refresh_from_db()
        assert app.status == S.DISBURSED
        assert app.disbursed_by == world.user("finance_a")
    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.RECONCILED
    entry = AuditEntry.objects.filter(action="application.disburse").first()
    assert entry is not None and "bank_txn_id" in entry.changes
    assert ledger_verify(replayers=replays()).ok


def test_the_same_return_file_twice_changes_nothing(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    data = return_file(round_, all_paid(round_))
    bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=data)
    entries = AuditEntry.objects.count()

    again = bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=data)

    assert again.repeated and again.paid == 0
    assert AuditEntry.objects.count() == entries


def test_a_failed_line_is_paid_again_in_a_later_round_after_the_card_is_fixed(
    world: World,
) -> None:
    round_, apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    answers = all_paid(round_) | {second.reference: ("3001", "账户已销户", None)}

    outcome = bank_return_import(
        actor=world.user("finance_a"), round_id=round_.pk, data=return_file(round_, answers)
    )

    assert (outcome.paid, outcome.failed) == (1, 1)
    second.refresh_from_db()
    assert (second.status, second.failure_reason) == (PaymentLine.Status.FAILED, "账户已销户")
    failed_app = Application.objects.get(pk=second.application_id)
    assert failed_app.status == S.APPROVED
    # A new card: held until another county officer checks it, then payable again.
    household_update(
        actor=world.user("cadre_v1"),
        household_id=failed_app.household_id,
        bank_card=bank_card_number(),
    )
    from approvals.services.card_checks import card_check_record

    card_check_record(
        actor=world.user("approver_a"), application_id=failed_app.pk, reason="新卡已核实"
    )
    later = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    assert [line.application_id for line in later.lines.all()] == [failed_app.pk]
    assert later.lines.get().card_hash != second.card_hash


def test_a_short_payment_is_a_discrepancy_not_a_payment(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    line = round_.lines.get()

    outcome = bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {line.reference: ("0000", "成功", line.amount - 100)}),
    )

    assert outcome.discrepancies == 1
    line.refresh_from_db()
    assert line.status == PaymentLine.Status.DISCREPANCY
    assert Application.objects.get(pk=line.application_id).status == S.APPROVED
    assert AuditEntry.objects.filter(action="payment_line.discrepancy").exists()


def test_a_partial_return_leaves_the_rest_sent(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first = round_.lines.order_by("reference").first()
    assert first is not None

    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {first.reference: ("0000", "成功", None)}),
    )

    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.SENT
    assert round_.lines.filter(status=PaymentLine.Status.SENT).count() == 1


def _refused(world: World, round_: PaymentRound, data: bytes) -> ReturnFileRefused:
    before = (AuditEntry.objects.count(), list(round_.lines.values_list("status", flat=True)))
    with pytest.raises(ReturnFileRefused) as refused:
        bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=data)
    assert refused.value.code == Code.BANK_FILE_INVALID
    after = (AuditEntry.objects.count(), list(round_.lines.values_list("status", flat=True)))
    assert after == before
    return refused.value


def test_a_return_file_of_another_round_is_refused_whole(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    data = return_file(round_, all_paid(round_)).replace(
        round_.reference.encode(), b"PR62090299999999", 1
    )

    refused = _refused(world, round_, data)

    assert any(p.line_no == 1 for p in refused.problems)


def test_a_changed_name_or_card_is_refused_whole(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    data = return_file(round_, all_paid(round_))
    data = data.replace(first.payee_name.encode("gb18030"), "王五".encode("gb18030"), 1)
    card = idnumbers.decrypt(second.card_cipher)
    data = data.replace(card.encode(), bank_card_number().encode(), 1)

    refused = _refused(world, round_, data)

    assert sorted(p.line_no for p in refused.problems) == [2, 3]


def test_an_unknown_line_reference_is_refused_whole(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    line = round_.lines.get()
    data = return_file(round_, all_paid(round_)).replace(
        line.reference.encode(), f"{round_.reference}-99999".encode()
    )

    refused = _refused(world, round_, data)

    assert [p.line_no for p in refused.problems] == [2]


def test_a_line_answered_before_is_refused_in_a_later_file(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {first.reference: ("0000", "成功", None)}),
    )

    data = return_file(
        round_, {first.reference: ("3001", "错", None), second.reference: ("0000", "成功", None)}
    )
    refused = _refused(world, round_, data)

    assert [p.line_no for p in refused.problems] == [2]


def test_a_spreadsheet_given_as_text_is_refused_in_words(world: World) -> None:
    round_, _apps = sent_round(world, 1)

    with pytest.raises(InvalidInput) as refused:
        bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=b"")

    assert refused.value.code == Code.BANK_FILE_INVALID


# --- the record ------------------------------------------------------------------------------


def test_verify_audit_catches_a_paid_line_edited_by_sql(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, all_paid(round_)),
    )
    before = ledger_verify(replayers=replays())
    assert before.ok, before.problems

    PaymentLine.objects.filter(round=round_).update(paid_amount=Decimal("1.00"))

    report = ledger_verify(replayers=replays())
    assert not report.ok
    assert any("payment line" in p.detail for p in report.problems)


def test_verify_audit_catches_a_round_total_edited_by_sql(world: World) -> None:
    round_, _apps = sent_round(world, 2)

    PaymentRound.objects.filter(pk=round_.pk).update(total=Decimal("1.00"))

    report = ledger_verify(replayers=replays())
    assert any(f"payment round {round_.reference}" in p.detail for p in report.problems)


def test_approval_leaves_out_the_households_the_approver_is_recused_from(world: World) -> None:
    from tests.factories import declare_kin, id_number

    relative = id_number()
    kin = world.application(S.APPROVED, household=world.household(head_id_number=relative))
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=kin.pk)
    payable(world, 1)
    declare_kin(official=world.user("approver_a"), relation="sibling", id_number=relative)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    approved = payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)

    assert approved.count == 1
    assert RoundExclusion.objects.filter(round=round_, application=kin, code=Code.RECUSED).exists()
    assert PaymentLine.objects.get(round=round_, application=kin).status == "withdrawn"


def test_a_file_wrong_everywhere_is_told_in_its_first_hundred_problems(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    rows = [f"D|X-{n}|名|6222000000000000|1.00|0000|成功|T{n}" for n in range(150)]
    data = ("\r\n".join([f"H|{round_.reference}|20261204|150|150.00", *rows]) + "\r\n").encode()

    refused = _refused(world, round_, data)

    shown = refused.as_dict()["file"]
    assert len(refused.problems) >= 150
    assert len(shown) == 101 and "50" in shown[-1]


def test_the_bank_file_as_a_spreadsheet(world: World) -> None:
    from payments.formats import PipeXlsx

    apps = payable(world, 1)
    round_ = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )
    payment_round_approve(actor=world.user("approver_a"), round_id=round_.pk)

    out = bank_file_export(actor=world.user("finance_a"), round_id=round_.pk, fmt="xlsx")

    assert out.name.endswith(".xlsx") and out.content_type == PipeXlsx.content_type
    import io

    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(out.data)).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("H", round_.reference)
    assert rows[1][0] == "D" and f"{apps[0].amount:.2f}" in [str(v) for v in rows[1]]


def test_a_failed_payment_waits_until_its_card_or_name_is_corrected(world: World) -> None:
    round_, _apps = sent_round(world, 1)
    line = round_.lines.get()
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {line.reference: ("3002", "户名不符", None)}),
    )
    [other] = payable(world, 1)

    later = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    assert [ln.application_id for ln in later.lines.all()] == [other.pk]
    exclusion = RoundExclusion.objects.get(round=later, application_id=line.application_id)
    assert exclusion.code == Code.PAYMENT_FAILED and "户名不符" in exclusion.reason


def test_a_return_file_over_the_limit_is_refused_whole(world: World) -> None:
    from payments.formats import MAX_RETURN_FILE

    round_, _apps = sent_round(world, 1)

    refused = _refused(world, round_, b"H|" + b"x" * MAX_RETURN_FILE)

    assert len(refused.problems) == 1 and "MB" in refused.problems[0].message


def test_the_statuses_that_hold_an_application_are_line_statuses() -> None:
    from payments.models import HOLDING_STATUSES

    assert set(HOLDING_STATUSES) < set(PaymentLine.Status.values)
    assert PaymentLine.Status.PAID not in HOLDING_STATUSES


def test_verify_audit_catches_a_paid_line_moved_to_another_application_by_sql(
    world: World,
) -> None:
    round_, _apps = sent_round(world, 1)
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, all_paid(round_)),
    )
    [unpaid] = payable(world, 1)

    PaymentLine.objects.filter(round=round_).update(
        application=unpaid, household_id=unpaid.household_id
    )

    report = ledger_verify(replayers=replays())
    assert any(f"line of application {unpaid.pk}" in p.detail for p in report.problems)


# --- found by review ----------------------------------------------------------------------------


def test_a_bank_file_downloaded_again_holds_only_the_lines_still_waiting(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {first.reference: ("0000", "成功", None)}),
    )

    again = bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)
    text = again.data.decode("gb18030")

    assert second.reference in text and first.reference not in text
    assert text.startswith(f"H|{round_.reference}|") and "|1|" in text.splitlines()[0]
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(round_, {second.reference: ("3002", "户名不符", None)}),
    )
    with pytest.raises(Refused) as nothing:
        bank_file_export(actor=world.user("finance_a"), round_id=round_.pk)
    assert nothing.value.code == Code.WRONG_STATE


def test_a_paid_line_needs_its_own_bank_transaction(world: World) -> None:
    round_, apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    good = return_file(round_, all_paid(round_)).decode("gb18030").splitlines()
    no_txn = "\r\n".join([good[0], good[1].rsplit("|", 1)[0] + "|", good[2]]) + "\r\n"
    same_txn = "\r\n".join([good[0], good[1], good[2].rsplit("|", 1)[0] + "|TXN0000"]) + "\r\n"

    for data in (no_txn, same_txn):
        with pytest.raises(ReturnFileRefused) as refused:
            bank_return_import(
                actor=world.user("finance_a"), round_id=round_.pk, data=data.encode("gb18030")
            )
        assert refused.value.code == Code.BANK_FILE_INVALID
    for app in apps:
        app.refresh_from_db()
        assert app.status == S.APPROVED


def test_a_return_file_with_a_bom_or_an_end_of_file_mark_is_read(world: World) -> None:
    round_, apps = sent_round(world, 2)
    first, second = round_.lines.order_by("reference")
    one = return_file(round_, {first.reference: ("0000", "成功", None)})
    two = return_file(round_, {second.reference: ("0000", "成功", None)})

    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=b"\x84\x31\x95\x33" + one,  # GB18030's byte-order mark
    )
    bank_return_import(actor=world.user("finance_a"), round_id=round_.pk, data=two + b"\x1a")

    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.RECONCILED
