"""The loan documents: the household's loan card (贷款明白卡: the terms, the schedule and
the interest subsidy rule, for the borrower to keep) and the interest subsidy list of a bank
and a settlement day (贴息清单, for signing). Issued, stored and recorded like every
document (``documents.services.issuing``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _

from applications.models import Bank
from applications.roles import Role
from applications.selectors import bank_posts_of, has_role_in
from common.actors import Actor
from common.errors import Forbidden, InvalidInput, NotFound
from documents.amounts import amount_in_figures, amount_in_words
from documents.models import StoredDocument
from documents.selectors import may_issue_in
from documents.services.issuing import _area_chain, _digest, _issue, chinese_date
from loans.models import LoanParameters, SubsidyClaim
from loans.policy import PURPOSES
from loans.selectors import loans_visible_to, subsidy_claims_visible_to

Kind = StoredDocument.Kind
C = SubsidyClaim.Status
METHODS = {
    "interest_only": "按季付息、到期还本",
    "equal_instalment": "等额本息（按月）",
    "equal_principal": "等额本金（按月）",
}
SETTLEMENTS = {
    "yearly": "每年12月20日结算",
    "quarterly": "每季末月20日结算",
    "at_maturity": "贷款到期时结算",
}
REASONS = {"overdue": "逾期付息", "not_paid": "未足额付息", "nothing": "无可贴利息"}
# Who prints a settlement's subsidy list: the county's officials who settle and pay it.
LIST_ROLES = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)


def _purpose(code: str) -> str:
    with translation.override("zh-hans"):
        return str(PURPOSES.get(code, code))


def _rate(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def loan_card_issue(*, actor: Actor, loan_id: int) -> StoredDocument:
    """The household's loan card (贷款明白卡): the borrower, the bank, the terms, every
    instalment of the schedule with its due date, and how the county subsidises interest
    paid on time. Issued by the village's cadre, the township, the county or the lending
    bank's officer; the same loan's card is issued once."""
    loan = (
        loans_visible_to(actor)
        .select_related("bank", "household", "program_version__program", "application__loan")
        .filter(pk=loan_id)
        .first()
    )
    if loan is None:
        raise NotFound(_("No such loan in your area."))
    county = loan.area_code[:6] + "000000"
    if not (may_issue_in(actor, loan.area_code) or (loan.bank_id, county) in bank_posts_of(actor)):
        raise Forbidden(_("Only the village, township or county, or the lending bank, prints it."))
    params = LoanParameters.objects.get(version=loan.program_version)
    rows = list(loan.instalments.order_by("seq"))
    request = loan.application.loan
    interest = sum((r.interest for r in rows), Decimal("0"))
    return _issue(
        actor=actor,
        kind=Kind.LOAN_CARD,
        subject_key=f"loan:{loan.pk}",
        title="扶贫小额信贷明白卡",
        area_code=loan.area_code,
        application=loan.application,
        household=loan.household,
        template="documents/loan_card.html",
        context={
            "loan": loan,
            "places": _area_chain(loan.area_code),
            "program": loan.program_version.program.name,
            "purpose": f"{_purpose(request.purpose_category)}：{request.purpose}",
            "method": METHODS.get(loan.method, loan.method),
            "principal_figures": amount_in_figures(loan.principal),
            "principal_words": amount_in_words(loan.principal),
            "rate": _rate(loan.annual_rate),
            "reference_rate": _rate(loan.reference_rate),
            "drawn_on": chinese_date(loan.drawdown_date),
            "matures_on": chinese_date(loan.maturity_date),
            "rows": [
                {
                    "seq": r.seq,
                    "due": chinese_date(r.due_date),
                    "days": r.days,
                    "principal": amount_in_figures(r.principal),
                    "interest": amount_in_figures(r.interest),
                    "total": amount_in_figures(r.principal + r.interest),
                }
                for r in rows
            ],
            "interest_total": amount_in_figures(interest),
            "total": amount_in_figures(loan.principal + interest),
            "share": _rate(params.subsidy_share),
            "cap": amount_in_figures(params.subsidy_principal_cap),
            "settlement": SETTLEMENTS.get(params.settlement, params.settlement),
            "payee": "先收后贴，补贴资金拨付至户主“一卡通”"
            if params.payee == LoanParameters.Payee.HOUSEHOLD
            else "直接拨付贷款银行，冲抵应付利息",
            "grace_days": params.grace_days,
            "fund_share": _rate(params.fund_share),
        },
    )


def subsidy_list_issue(
    *,
    actor: Actor,
    county_code: str,
    bank_code: str,
    period_end: date,
    payee: str = LoanParameters.Payee.BANK,
) -> StoredDocument:
    """The interest subsidy list (贴息清单) of one bank's loans for one settlement day and
    one payee (the bank, or the households: 先收后贴), for the county and the bank to sign:
    each claim's borrower, loan, period, principal and rate subsidised, interest paid and
    subsidy (or why none). Its total is of the approved (and paid) claims only: what the
    county pays against it; claims still awaiting approval are listed and counted apart.
    By the county approver or a finance officer; a new list when the claims change."""
    if not any(has_role_in(actor, role, county_code) for role in LIST_ROLES):
        raise Forbidden(_("Only the county approver or a finance officer of the county does this."))
    bank = Bank.objects.filter(code=bank_code).first()
    if bank is None:
        raise InvalidInput({"bank": [_("No such bank.")]})
    if payee not in LoanParameters.Payee.values:
        raise InvalidInput({"payee": [_("Choose the bank or the households.")]})
    claims = list(
        subsidy_claims_visible_to(actor)
        .filter(
            area_code__startswith=county_code[:6],
            bank=bank,
            period_end=period_end,
            payee=payee,
        )
        .select_related("loan__household", "approved_by", "settled_by")
        .order_by("area_code", "loan_id", "due_date")
    )
    if not claims:
        raise NotFound(_("No claim of this bank was settled on that day."))
    counted = [c for c in claims if c.status in (C.APPROVED, C.PAID)]
    waiting = [c for c in claims if c.status == C.PENDING]
    total = sum((c.amount for c in counted), Decimal("0"))
    return _issue(
        actor=actor,
        kind=Kind.SUBSIDY_LIST,
        subject_key=f"subsidy:{county_code}:{bank.code}:{period_end.isoformat()}:{payee}:"
        + _digest(f"{c.pk}:{c.status}:{c.amount}" for c in claims),
        title="扶贫小额信贷贴息资金清单",
        area_code=county_code,
        template="documents/subsidy_list.html",
        context={
            "bank": bank,
            "county": _area_chain(county_code)["county"],
            "period_end": chinese_date(period_end),
            "rows": [
                {
                    "number": n,
                    "borrower": c.loan.household.head_name,
                    "loan": c.loan.reference,
                    "period": f"{c.start_date:%Y.%m.%d}–{c.due_date:%Y.%m.%d}",
                    "days": c.days,
                    "base": amount_in_figures(c.base),
                    "rate": _rate(c.rate),
                    "interest": amount_in_figures(c.interest),
                    "interest_paid": amount_in_figures(c.interest_paid),
                    "amount": amount_in_figures(c.amount),
                    "note": REASONS.get(c.reason, "") or c.get_status_display(),
                }
                for n, c in enumerate(claims, start=1)
            ],
            "count": len(claims),
            "paid_count": len(counted),
            "waiting_count": len(waiting),
            "total_figures": amount_in_figures(total),
            "total_words": amount_in_words(total),
            "settled_by": claims[0].settled_by.get_username(),
            "approved_by": next(
                (c.approved_by.get_username() for c in claims if c.approved_by), ""
            ),
            "payee": LoanParameters.Payee(payee).label,
        },
    )
