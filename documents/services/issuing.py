"""Issuing documents. Every document is rendered once, stored, and recorded (its SHA-256
in the audit trail, in the same transaction as the stored row); issuing the same subject
again returns the stored document, never a new rendering."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.models import Application, Area, Household, Program, StatusChange
from applications.selectors import (
    applications_visible_to,
    areas_visible_to,
    households_visible_to,
    is_everywhere,
)
from approvals.models import Decision
from audit.services import audit_record
from common import clock
from common.actors import Actor, person_or_none
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.files import stored_file
from documents import rendering
from documents.amounts import amount_in_figures, amount_in_words
from documents.models import StoredDocument
from documents.selectors import (
    DECISION_TRANSITIONS,
    ISSUER_ROLES,
    benefits_card_state,
    may_issue_in,
    notice_postings,
    notice_subject,
    subject_digest,
)
from documents.services.verification import verification_code_new, verification_url
from payments.models import PaymentLine, PaymentRound
from payments.policy import PRINTABLE, is_round_approver
from payments.selectors import payment_round_get

Kind = StoredDocument.Kind
S = Application.Status


def chinese_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


def _area_chain(area_code: str) -> dict[str, str]:
    """Names of the village, township and county that contain an area code."""
    codes = {
        "village": area_code,
        "township": area_code[:9] + "000",
        "county": area_code[:6] + "000000",
    }
    names = dict(Area.objects.filter(code__in=codes.values()).values_list("code", "name"))
    return {level: names.get(code, "") for level, code in codes.items()}


def _issue(
    *,
    actor: Actor,
    kind: str,
    subject_key: str,
    title: str,
    area_code: str,
    template: str,
    context: dict[str, Any],
    application: Application | None = None,
    household: Household | None = None,
) -> StoredDocument:
    """The stored document of ``(kind, subject_key)``, rendered and stored now if there is
    none: the file, its row and its ``document.issue`` audit entry together (the file is
    deleted again when the row does not commit). Of two issuers at once, one row wins and
    both get it."""
    existing = StoredDocument.objects.filter(kind=kind, subject_key=subject_key).first()
    if existing is not None:
        return existing
    code = verification_code_new()
    issued_at = clock.now().replace(microsecond=0)
    url = verification_url(code)
    pdf = rendering.template_to_pdf(
        template,
        {
            **context,
            "title": title,
            "verification_code": code,
            "verification_url": url,
            "qr": rendering.qr_data_uri(url),
            "issued_at_iso": issued_at.isoformat(),
            "issued_on": chinese_date(issued_at),
        },
    )
    digest = hashlib.sha256(pdf).hexdigest()
    try:
        with stored_file(f"documents/{kind}/{code}.pdf", pdf) as name, transaction.atomic():
            doc = StoredDocument.objects.create(
                kind=kind,
                subject_key=subject_key,
                application=application,
                household=household,
                area_code=area_code,
                title=title,
                sha256=digest,
                verification_code=code,
                file=name,
                size=len(pdf),
                created_by=person_or_none(actor),
                created_at=issued_at,
            )
            audit_record(
                actor=actor,
                action="document.issue",
                object_type="document",
                object_id=doc.pk,
                area_code=area_code,
                changes={
                    "kind": [None, kind],
                    "subject": [None, subject_key],
                    "sha256": [None, digest],
                    "verification_code": [None, code],
                },
            )
    except IntegrityError:
        # Issued by someone else a moment ago (their row won, ours and its file are gone):
        # theirs is the document.
        return StoredDocument.objects.get(kind=kind, subject_key=subject_key)
    return doc


def _issuer_applications(actor: Actor) -> QuerySet[Application]:
    roles = None if is_everywhere(actor) else ISSUER_ROLES
    return applications_visible_to(actor, roles=roles)


def _application_for(actor: Actor, application_id: int) -> Application:
    app = (
        _issuer_applications(actor)
        .select_related("household", "program", "program_version")
        .filter(pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound(_("No such application in your area."))
    return app


def _items(app: Application) -> list[dict[str, Any]]:
    return [
        {
            "name": line.item.name,
            "unit": line.item.unit,
            "quantity": line.quantity,
            "unit_amount": amount_in_figures(line.unit_amount),
            "amount": amount_in_figures(line.amount),
        }
        for line in app.items.select_related("item").order_by("item__code")
    ]


def _decided_at(app: Application, transition: str) -> datetime | None:
    decision = app.decisions.filter(transition=transition).order_by("-decided_at", "-id").first()
    return decision.decided_at if decision is not None else None


def agreement_issue(*, actor: Actor, application_id: int) -> StoredDocument:
    """The household industry support agreement (到户产业帮扶协议书) of an approved (or
    disbursed) application.

    Guarantees: the application is in the actor's area and role (else ``NotFound``) and
    approved (else ``Refused``); issued once, audited."""
    app = _application_for(actor, application_id)
    if app.status not in (S.APPROVED, S.DISBURSED):
        raise Refused(
            _("An agreement is issued for an approved application; this one is %(status)s.")
            % {"status": app.get_status_display()},
            code=Code.NOT_APPROVED,
        )
    household = app.household
    places = _area_chain(app.area_code)
    return _issue(
        actor=actor,
        kind=Kind.AGREEMENT,
        subject_key=f"application:{app.pk}",
        title="到户产业帮扶协议书",
        area_code=app.area_code,
        application=app,
        household=household,
        template="documents/agreement.html",
        context={
            "app": app,
            "household": household,
            "places": places,
            "program": app.program,
            "policy_reference": app.program_version.policy_reference,
            "items": _items(app),
            "amount_figures": amount_in_figures(app.amount),
            "amount_words": amount_in_words(app.amount),
            "approved_on": chinese_date(_decided_at(app, "county_approve")),
            "party_a": f"{places['township']}人民政府" if places["township"] else "乡镇人民政府",
        },
    )


def decision_letter_issue(*, actor: Actor, application_id: int) -> StoredDocument:
    """The letter telling the household the latest decision on its application (approved,
    returned or rejected), with the reason. One letter per decision."""
    app = _application_for(actor, application_id)
    decision = (
        Decision.objects.filter(application=app, transition__in=DECISION_TRANSITIONS)
        .select_related("actor")
        .order_by("-decided_at", "-id")
        .first()
    )
    if decision is None:
        raise Refused(
            _("This application has not been approved, returned or rejected."),
            code=Code.NO_DECISION,
        )
    outcome = {"county_approve": "approved", "return": "returned", "reject": "rejected"}[
        decision.transition
    ]
    places = _area_chain(app.area_code)
    return _issue(
        actor=actor,
        kind=Kind.DECISION_LETTER,
        subject_key=f"decision:{decision.pk}",
        title={
            "approved": "扶贫项目申请审批决定书",
            "returned": "扶贫项目申请退回补正通知书",
            "rejected": "扶贫项目申请不予批准决定书",
        }[outcome],
        area_code=app.area_code,
        application=app,
        household=app.household,
        template="documents/decision_letter.html",
        context={
            "app": app,
            "household": app.household,
            "places": places,
            "outcome": outcome,
            "reason": decision.reason,
            "decided_on": chinese_date(decision.decided_at),
            "submitted_on": chinese_date(_decided_at(app, "submit")),
            "amount_figures": amount_in_figures(app.amount),
            "amount_words": amount_in_words(app.amount),
            "office": (
                f"{places['county']}扶贫开发领导小组办公室"
                if outcome != "returned" or decision.from_status == S.COUNTY_REVIEW
                else f"{places['township']}人民政府"
            ),
        },
    )


_digest = subject_digest


def _notice_content(app: Application, income: Decimal | None) -> str:
    """What a notice's row says an application is for: its items; for an exit the income it
    rests on; for a return to poverty nothing more (its cause may be a health detail)."""
    if app.program.kind == Program.Kind.EXIT:
        return f"拟脱贫销号（人均纯收入{income}元）"
    if app.program.kind == Program.Kind.RETURN:
        return "拟纳入返贫监测"
    return "、".join(f"{line.item.name}{line.quantity}{line.item.unit}" for line in app.items.all())


def notice_issue(*, actor: Actor, village_code: str) -> StoredDocument:
    """The public notice (公示表) of a village: the applications now in posting, with names
    and amounts only, never an ID, phone or card number. One notice per set of postings."""
    village = None
    if may_issue_in(actor, village_code):
        village = (
            areas_visible_to(actor).filter(code=village_code, level=Area.Level.VILLAGE).first()
        )
    if village is None:
        raise NotFound(_("No such village in your area."))
    apps = notice_postings(village.code)
    if not apps:
        raise Refused(
            _("No application of this village is in public posting."), code=Code.NOTHING_POSTED
        )
    subject_key = notice_subject(village.code, apps)
    incomes = dict(
        StatusChange.objects.filter(application__in=[a.pk for a in apps]).values_list(
            "application_id", "income_per_capita"
        )
    )
    rows = [
        {
            "number": index,
            "head_name": app.household.head_name,
            "household_type": app.household.get_household_type_display(),
            "program": app.program.name,
            "items": _notice_content(app, incomes.get(app.pk)),
            "amount": amount_in_figures(app.amount),
            "ends_on": chinese_date(app.posting_ends_at),
        }
        for index, app in enumerate(apps, start=1)
    ]
    starts = min((a.posting_started_at for a in apps if a.posting_started_at), default=None)
    ends = max((a.posting_ends_at for a in apps if a.posting_ends_at), default=None)
    places = _area_chain(village.code)
    total = sum((a.amount for a in apps), Decimal("0"))
    return _issue(
        actor=actor,
        kind=Kind.NOTICE,
        subject_key=subject_key,
        title=f"{places['village']}扶贫项目公示表",
        area_code=village.code,
        template="documents/notice.html",
        context={
            "places": places,
            "rows": rows,
            "total": amount_in_figures(total),
            "starts_on": chinese_date(starts),
            "ends_on": chinese_date(ends),
        },
    )


def benefits_card_issue(*, actor: Actor, household_id: int) -> StoredDocument:
    """The household's benefits card (明白卡): every support it receives across programs
    (approved or paid), with amounts and dates. A new card when the supports change."""
    household = households_visible_to(actor).filter(pk=household_id).first()
    if household is None or not may_issue_in(actor, household.area_code):
        raise NotFound(_("No such household in your area."))
    state = benefits_card_state(household)
    apps, loans, subsidised = state.applications, state.loans, state.subsidised
    rows = [
        {
            "program": app.program.name,
            "items": "、".join(
                f"{line.item.name}{line.quantity}{line.item.unit}" for line in app.items.all()
            ),
            "amount": amount_in_figures(app.amount),
            "approved_on": chinese_date(_decided_at(app, "county_approve")),
            "disbursed_on": chinese_date(_decided_at(app, "disburse")),
            "status": app.get_status_display(),
        }
        for app in apps
    ]
    total = sum((a.amount for a in apps), Decimal("0"))
    places = _area_chain(household.area_code)
    loan_rows = [
        {
            "reference": loan.reference,
            "bank": loan.bank.name,
            "principal": amount_in_figures(loan.principal),
            "rate": f"{loan.annual_rate.normalize():f}%",
            "drawn_on": chinese_date(loan.drawdown_date),
            "matures_on": chinese_date(loan.maturity_date),
            "outstanding": amount_in_figures(loan.outstanding_principal),
            "subsidy": amount_in_figures(Decimal(str(subsidised.get(loan.pk) or 0))),
            "status": loan.get_status_display(),
        }
        for loan in loans
    ]
    return _issue(
        actor=actor,
        kind=Kind.BENEFITS_CARD,
        subject_key=state.subject_key,
        title="扶贫政策明白卡",
        area_code=household.area_code,
        household=household,
        template="documents/benefits_card.html",
        context={
            "household": household,
            "places": places,
            "rows": rows,
            "loans": loan_rows,
            "total_figures": amount_in_figures(total),
            "total_words": amount_in_words(total),
            "causes": "、".join(str(Household.Cause(c).label) for c in household.poverty_causes),
        },
    )


def payment_list_issue(*, actor: Actor, round_id: int) -> StoredDocument:
    """The payment list (发放清册) of an approved round, for signing: each line's village,
    payee, masked card, amount and, once the bank answered, its result; the totals, the
    list's SHA-256 and who drew it up and approved it. Issued by a finance officer or the
    county approver; a new list when the bank's answers change it."""
    round_ = payment_round_get(actor, round_id)
    if round_ is None:
        raise NotFound(_("No such payment round in your area."))
    if not is_round_approver(actor, round_.area_code):
        raise Forbidden(_("Only a finance officer or the county approver prints a payment list."))
    if round_.status not in PRINTABLE:
        raise Refused(
            _("A payment list is printed once the round is approved; this one is %(s)s.")
            % {"s": round_.get_status_display()},
            code=Code.WRONG_STATE,
        )
    lines = [
        line
        for line in round_.lines.select_related("household").order_by("reference")
        if line.status != PaymentLine.Status.WITHDRAWN
    ]
    villages = dict(
        Area.objects.filter(code__in={line.household.area_code for line in lines}).values_list(
            "code", "name"
        )
    )
    answered = round_.status in (PaymentRound.Status.SENT, PaymentRound.Status.RECONCILED)
    rows = [
        {
            "number": index,
            "reference": line.reference,
            "village": villages.get(line.household.area_code, line.household.area_code),
            "payee": line.payee_name,
            "card": line.card_masked,
            "amount": amount_in_figures(line.amount),
            "result": (
                ""
                if not answered or line.status == PaymentLine.Status.SENT
                else "已拨付"
                if line.status == PaymentLine.Status.PAID
                else f"失败：{line.failure_reason}"
                if line.status == PaymentLine.Status.FAILED
                else f"金额不符：实付{amount_in_figures(line.paid_amount or Decimal('0'))}"
            ),
            "bank_txn": line.bank_txn_id,
        }
        for index, line in enumerate(lines, start=1)
    ]
    paid = [line for line in lines if line.status == PaymentLine.Status.PAID]
    total = sum((line.amount for line in lines), Decimal("0"))
    places = _area_chain(round_.area_code)
    return _issue(
        actor=actor,
        kind=Kind.PAYMENT_LIST,
        subject_key=f"round:{round_.pk}:"
        + _digest(f"{line.reference}:{line.status}:{line.bank_txn_id}" for line in lines),
        title=f"{round_.program.name}资金发放清册",
        area_code=round_.area_code,
        template="documents/payment_list.html",
        context={
            "round": round_,
            "area_name": places["township"]
            if round_.area_code.endswith("000") and not round_.area_code.endswith("000000")
            else places["county"],
            "rows": rows,
            "answered": answered,
            "count": len(lines),
            "total_figures": amount_in_figures(total),
            "total_words": amount_in_words(total),
            "paid_count": len(paid),
            "paid_total": amount_in_figures(sum((p.amount for p in paid), Decimal("0"))),
            "approved_on": chinese_date(round_.approved_at),
        },
    )


def document_issue(
    *,
    actor: Actor,
    kind: str,
    application_id: int | None = None,
    household_id: int | None = None,
    village_code: str = "",
    round_id: int | None = None,
    loan_id: int | None = None,
    county_code: str = "",
    bank_code: str = "",
    period_end: date | None = None,
    payee: str = "bank",
) -> StoredDocument:
    """Issue a document of ``kind`` about what it needs: an application (agreement, decision
    letter), a household (benefits card), a village (notice) or a payment round (payment
    list). The same guarantees as the service of each kind; a missing subject is
    ``InvalidInput``."""
    if kind in (Kind.AGREEMENT, Kind.DECISION_LETTER):
        if not application_id:
            raise InvalidInput({"application": [_("Choose the application.")]})
        if kind == Kind.AGREEMENT:
            return agreement_issue(actor=actor, application_id=application_id)
        return decision_letter_issue(actor=actor, application_id=application_id)
    if kind == Kind.BENEFITS_CARD:
        if not household_id:
            raise InvalidInput({"household": [_("Choose the household.")]})
        return benefits_card_issue(actor=actor, household_id=household_id)
    if kind == Kind.NOTICE:
        if not village_code:
            raise InvalidInput({"village": [_("Choose the village.")]})
        return notice_issue(actor=actor, village_code=village_code)
    if kind == Kind.PAYMENT_LIST:
        if not round_id:
            raise InvalidInput({"round": [_("Choose the payment round.")]})
        return payment_list_issue(actor=actor, round_id=round_id)
    if kind in (Kind.LOAN_CARD, Kind.SUBSIDY_LIST):
        from documents.services import loan_documents

        if kind == Kind.LOAN_CARD:
            if not loan_id:
                raise InvalidInput({"loan": [_("Choose the loan.")]})
            return loan_documents.loan_card_issue(actor=actor, loan_id=loan_id)
        missing = {
            name: [_("Give the county, the bank and the settlement day.")]
            for name, value in (
                ("county", county_code),
                ("bank", bank_code),
                ("period_end", period_end),
            )
            if not value
        }
        if missing or period_end is None:
            raise InvalidInput(missing)
        return loan_documents.subsidy_list_issue(
            actor=actor,
            county_code=county_code,
            bank_code=bank_code,
            period_end=period_end,
            payee=payee,
        )
    raise InvalidInput({"kind": [_("Choose the kind of document.")]})
