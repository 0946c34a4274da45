"""The bank file of an approved round (代发文件) and the bank's return file (回盘文件).

Downloading the bank file reveals full card and ID numbers, so every download is on the
record with the file's SHA-256. A return file is checked whole before anything is applied:
one problem refuses it all. A paid line is the bank's confirmation and takes the
application's paying step; a failed line lets its application be paid again in a later
round; a line paid a different amount is a discrepancy, not a payment."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from applications import idnumbers
from applications.services import program_version_current
from approvals.services.transitions import applications_paid_by_bank
from audit.services import audit_record, audit_records
from common import clock
from common.actors import Actor, person
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.rows import rows_update
from payments import formats, hooks
from payments.models import PaymentLine, PaymentRound, ReturnImport
from payments.policy import EXPORTABLE, IMPORTABLE, is_round_finance
from payments.selectors import payment_rounds_visible_to

PURPOSE = "扶贫补助"
# A file wrong on every line of ten thousand is told in its first hundred problems.
MAX_PROBLEMS_SHOWN = 100
PAID = "0000"


def bank_encoding() -> str:
    """The encoding the county's bank reads and writes (``FUPIN_BANK_ENCODING``)."""
    return str(settings.FUPIN_BANK_ENCODING)


@dataclass(frozen=True)
class BankFileOut:
    name: str
    content_type: str
    data: bytes
    sha256: str


def _round_for_finance(actor: Actor, round_id: int, *, lock: bool) -> PaymentRound:
    qs = payment_rounds_visible_to(actor).select_related("program")
    if lock:
        qs = qs.select_for_update(no_key=True, of=("self",))
    round_ = qs.filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(_("No such payment round in your area."))
    if not is_round_finance(actor, round_.area_code):
        raise Forbidden(_("Only a finance officer handles the bank's files."))
    return round_


def bank_file_export(*, actor: Actor, round_id: int, fmt: str = "txt") -> BankFileOut:
    """The bank file of an approved (or already sent) round, in the format asked for and
    the bank's encoding. The first export marks the round and its lines sent; a later one
    holds only the lines still waiting for the bank's answer.

    Guarantees: only a finance officer of the area (else ``Forbidden``); only an approved
    round's frozen list (``wrong_state`` otherwise); every download is audited with the
    file's SHA-256, its format and encoding."""
    try:
        bank_format = formats.format_get(fmt)
    except KeyError:
        raise InvalidInput({"format": [_("Choose txt or xlsx.")]}) from None
    with transaction.atomic():
        round_ = _round_for_finance(actor, round_id, lock=True)
        if round_.status not in EXPORTABLE:
            raise Refused(
                _("A bank file is made from an approved round; this one is %(status)s.")
                % {"status": round_.get_status_display()},
                code=Code.WRONG_STATE,
            )
        # The first file: the approved list. Again later (a file lost on its way): only the
        # lines the bank has not answered, never a paid or failed one a second time.
        waiting = (
            PaymentLine.Status.PENDING
            if round_.status == PaymentRound.Status.APPROVED
            else PaymentLine.Status.SENT
        )
        lines = list(round_.lines.filter(status=waiting).order_by("reference"))
        if not lines:
            raise Refused(
                _("The bank has answered every line of this round: there is nothing to send."),
                code=Code.WRONG_STATE,
            )
        bank_file = formats.BankFile(
            round_reference=round_.reference,
            date=clock.today(),
            lines=tuple(
                formats.BankLine(
                    reference=line.reference,
                    account_name=line.payee_name,
                    card_number=idnumbers.decrypt(line.card_cipher),
                    amount=line.amount,
                    id_number=idnumbers.decrypt(line.id_cipher) if line.id_cipher else "",
                    purpose=PURPOSE,
                )
                for line in lines
            ),
        )
        encoding = bank_encoding()
        data = bank_format.write(bank_file, encoding=encoding)
        digest = hashlib.sha256(data).hexdigest()
        from_state = round_.status
        if round_.status == PaymentRound.Status.APPROVED:
            round_.status = PaymentRound.Status.SENT
            round_.sent_at = clock.now()
            round_.bank_format = bank_format.name
            round_.save(update_fields=["status", "sent_at", "bank_format"])
            round_.lines.filter(status=PaymentLine.Status.PENDING).update(
                status=PaymentLine.Status.SENT
            )
        audit_record(
            actor=actor,
            action="payment_round.export",
            object_type="payment_round",
            object_id=round_.reference,
            area_code=round_.area_code,
            from_state=from_state,
            to_state=round_.status,
            changes={
                "format": [None, bank_format.name],
                "encoding": [None, encoding],
                "sha256": [None, digest],
                "lines": [None, len(lines)],
            },
        )
    return BankFileOut(
        name=f"{round_.reference}.{bank_format.suffix.lstrip('.')}",
        content_type=bank_format.content_type,
        data=data,
        sha256=digest,
    )


@dataclass(frozen=True)
class ReturnOutcome:
    """What a return file did: lines paid, failed and paid short or over; ``repeated`` when
    the same file had been applied before (then nothing changed)."""

    round: PaymentRound
    sha256: str
    paid: int = 0
    failed: int = 0
    discrepancies: int = 0
    repeated: bool = False


class ReturnFileRefused(InvalidInput):
    """A return file with problems: each as (line number, problem); nothing was applied."""

    def __init__(self, problems: list[formats.Problem]) -> None:
        self.problems = problems
        shown = [
            _("Line %(line)s: %(problem)s") % {"line": p.line_no, "problem": p.message}
            if p.line_no
            else p.message
            for p in problems[:MAX_PROBLEMS_SHOWN]
        ]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            shown.append(
                _("… and %(more)d more problems.") % {"more": len(problems) - MAX_PROBLEMS_SHOWN}
            )
        super().__init__({"file": shown}, code=Code.BANK_FILE_INVALID)


BUILT_IN = ("txt", "xlsx")


def _read(data: bytes, sent_as: str) -> formats.ReturnFile:
    """The return file parsed: in the county's own format when the round was sent in one,
    else as text or as its .xlsx twin, by its first bytes."""
    if sent_as and sent_as not in BUILT_IN and sent_as in formats.FORMATS:
        bank_format = formats.format_get(sent_as)
    else:
        bank_format = formats.format_get("xlsx" if data[:4] == b"PK\x03\x04" else "txt")
    try:
        return bank_format.read(data)
    except formats.ReturnFileInvalid as invalid:
        raise ReturnFileRefused(list(invalid.problems)) from None


def _check_against_round(
    parsed: formats.ReturnFile, round_: PaymentRound, lines: dict[str, PaymentLine]
) -> list[formats.Problem]:
    problems: list[formats.Problem] = []
    if parsed.round_reference != round_.reference:
        problems.append(
            formats.Problem(
                1,
                _("This return file is for round %(theirs)s, not %(ours)s.")
                % {"theirs": parsed.round_reference[:40], "ours": round_.reference},
            )
        )
    transactions: dict[str, int] = {}
    for row in parsed.lines:
        if row.paid and not row.bank_txn_id.strip():
            problems.append(
                formats.Problem(row.line_no, _("A paid line needs the bank's transaction id."))
            )
        elif row.paid and row.bank_txn_id in transactions:
            problems.append(
                formats.Problem(
                    row.line_no,
                    _("The bank transaction %(txn)s is also on line %(other)s.")
                    % {"txn": row.bank_txn_id[:64], "other": transactions[row.bank_txn_id]},
                )
            )
        elif row.paid:
            transactions[row.bank_txn_id] = row.line_no
        line = lines.get(row.reference)
        if line is None:
            problems.append(
                formats.Problem(
                    row.line_no,
                    _("The line reference %(ref)s is not a line of this round.")
                    % {"ref": row.reference[:40]},
                )
            )
            continue
        if row.account_name != line.payee_name:
            problems.append(
                formats.Problem(
                    row.line_no,
                    _("The account name is not the one sent (%(sent)s).")
                    % {"sent": line.payee_name},
                )
            )
        if idnumbers.lookup_hash(idnumbers.normalize_bank_card(row.card_number)) != line.card_hash:
            problems.append(formats.Problem(row.line_no, _("The card number is not the one sent.")))
        if line.status != PaymentLine.Status.SENT:
            problems.append(
                formats.Problem(
                    row.line_no,
                    _("The line %(ref)s was answered already (%(status)s).")
                    % {"ref": row.reference, "status": line.get_status_display()},
                )
            )
    return problems


def bank_return_import(*, actor: Actor, round_id: int, data: bytes) -> ReturnOutcome:
    """Apply the bank's return file to a sent round.

    Guarantees: the whole file is checked first (its own form, then against the round: the
    header's round, every line a line of this round, sent and not answered yet, with the
    name and card that were sent); any problem refuses the file with every problem listed
    and changes nothing (``ReturnFileRefused``). The same file applied again changes nothing
    and says so (``repeated``); two people importing at once apply it once (the round row is
    locked, and a file is recorded once per round). A line paid ``0000`` at the amount sent
    takes the application's paying step (the importer recorded, with the bank's
    transaction); another result fails the line with the bank's text, and the application
    may be paid in a later round; a different amount is a discrepancy for inspectors and
    pays nothing. The round is reconciled when no line waits for an answer."""
    importer = person(actor)
    digest = hashlib.sha256(data).hexdigest()
    sent_as = (
        payment_rounds_visible_to(actor)
        .filter(pk=round_id)
        .values_list("bank_format", flat=True)
        .first()
    )
    parsed = _read(data, sent_as or "")
    with transaction.atomic():
        round_ = _round_for_finance(actor, round_id, lock=True)
        if ReturnImport.objects.filter(round=round_, sha256=digest).exists():
            return ReturnOutcome(round=round_, sha256=digest, repeated=True)
        if round_.status not in IMPORTABLE:
            raise Refused(
                _("A return file is applied to a round sent to the bank; this one is %(s)s.")
                % {"s": round_.get_status_display()},
                code=Code.WRONG_STATE,
            )
        lines = {
            line.reference: line
            for line in round_.lines.select_for_update(no_key=True).filter(
                reference__in=[row.reference for row in parsed.lines]
            )
        }
        problems = _check_against_round(parsed, round_, lines)
        if problems:
            raise ReturnFileRefused(problems)
        now = clock.now()
        paying: list[tuple[int, dict[str, Any]]] = []
        claims: list[hooks.ClaimPaid] = []
        records: list[dict[str, Any]] = []
        failed = discrepancies = 0
        for row in parsed.lines:
            line = lines[row.reference]
            line.result_code, line.bank_txn_id, line.answered_at = (
                row.result_code[:16],
                row.bank_txn_id[:64],
                now,
            )
            if row.paid and row.amount == line.amount and line.claim_id is not None:
                line.status, line.paid_amount = PaymentLine.Status.PAID, row.amount
                claims.append(
                    hooks.ClaimPaid(line.claim_id, line.reference, row.amount, line.bank_txn_id)
                )
            elif row.paid and row.amount == line.amount:
                line.status, line.paid_amount = PaymentLine.Status.PAID, row.amount
                paying.append(
                    (
                        line.application_id,
                        {
                            "payment_line": [None, line.reference],
                            "paid_amount": [None, row.amount],
                            "bank_txn_id": [None, line.bank_txn_id],
                        },
                    )
                )
            elif row.paid:
                line.status, line.paid_amount = PaymentLine.Status.DISCREPANCY, row.amount
                line.failure_reason = _("The bank paid %(paid)s of %(sent)s.") % {
                    "paid": row.amount,
                    "sent": line.amount,
                }
                records.append(_line_entry(round_, line, "payment_line.discrepancy", row.amount))
                discrepancies += 1
            else:
                line.status = PaymentLine.Status.FAILED
                line.failure_reason = row.result_text[:200] or row.result_code
                records.append(_line_entry(round_, line, "payment_line.fail", None))
                failed += 1
        rows_update(
            [lines[row.reference] for row in parsed.lines],
            [
                "status",
                "paid_amount",
                "failure_reason",
                "result_code",
                "bank_txn_id",
                "answered_at",
            ],
        )
        # The paid applications take their paying step together (the bank's confirmation).
        # Their rows are locked before any audit entry is written (the chain head): the
        # order every service takes, so an import never deadlocks with a round drawn up.
        applications_paid_by_bank(actor=actor, payments=paying)
        if claims:
            payer = hooks.payer_of(round_.program.kind)
            if payer is None:  # pragma: no cover - a round of claims has its payer
                raise RuntimeError(f"no payer of {round_.program.kind} claims")
            payer.paid(actor, claims)
        audit_records(actor=actor, entries=records)
        paid = len(paying) + len(claims)
        ReturnImport.objects.create(
            round=round_,
            sha256=digest,
            imported_by=importer,
            paid=paid,
            failed=failed,
            discrepancies=discrepancies,
        )
        from_state = round_.status
        if not round_.lines.filter(status=PaymentLine.Status.SENT).exists():
            round_.status = PaymentRound.Status.RECONCILED
            round_.reconciled_at = now
            days = _announcement_days(round_)
            round_.announced_until = now + timedelta(days=days)
            round_.save(update_fields=["status", "reconciled_at", "announced_until"])
        audit_record(
            actor=actor,
            action="payment_round.return_import",
            object_type="payment_round",
            object_id=round_.reference,
            area_code=round_.area_code,
            from_state=from_state,
            to_state=round_.status,
            changes={
                "sha256": [None, digest],
                "encoding": [None, parsed.encoding],
                "paid": [None, paid],
                "failed": [None, failed],
                "discrepancies": [None, discrepancies],
                **(
                    {"announced_until": [None, round_.announced_until]}
                    if round_.announced_until
                    else {}
                ),
            },
        )
    return ReturnOutcome(
        round=round_, sha256=digest, paid=paid, failed=failed, discrepancies=discrepancies
    )


def _announcement_days(round_: PaymentRound) -> int:
    """How long the program version in force announces payments (the newest version's, or
    the default, when none is in force today: the bank's answer is never refused for it)."""
    try:
        return program_version_current(round_.program).announcement_days
    except InvalidInput:
        latest = round_.program.versions.order_by("-effective_from").first()
        return latest.announcement_days if latest is not None else 10


def _line_entry(
    round_: PaymentRound, line: PaymentLine, action: str, paid_amount: Any
) -> dict[str, Any]:
    """The audit entry of a line the bank did not pay as sent."""
    return {
        "action": action,
        "object_type": "payment_line",
        "object_id": line.reference,
        "area_code": round_.area_code,
        "from_state": PaymentLine.Status.SENT,
        "to_state": line.status,
        "reason": line.failure_reason,
        "changes": {
            "application": [None, line.application_id],
            "result_code": [None, line.result_code],
            "paid_amount": [None, paid_amount],
        },
    }
