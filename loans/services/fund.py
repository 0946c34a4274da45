"""The county's risk-compensation fund (风险补偿金): deposits for now (compensations and
recoveries come with the loans). Every movement under the fund row's lock, appended,
audited; the balance never below zero."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from applications.models import Area
from applications.roles import Role
from applications.selectors import has_role_in
from audit.services import audit_record
from common import clock
from common.actors import Actor, person
from common.errors import Forbidden, InvalidInput, NotFound
from common.money import to_fen
from loans.models import FundMovement, RiskFund

FUND_ROLES = (Role.COUNTY_APPROVER, Role.FINANCE_OFFICER)
MAX_DEPOSIT = Decimal("1000000000.00")


def fund_locked(county_code: str) -> RiskFund:
    """The county's fund row, created empty the first time, locked for this transaction."""
    county = Area.objects.filter(code=county_code, level=Area.Level.COUNTY).first()
    if county is None:
        raise NotFound(_("No such county."))
    RiskFund.objects.get_or_create(county=county)
    return RiskFund.objects.select_for_update(no_key=True).get(county=county)


def fund_deposit(
    *,
    actor: Actor,
    county_code: str,
    amount: Decimal,
    source: str,
    document_number: str,
    on: date,
) -> FundMovement:
    """Money put into the county's fund from its budget (with the document that decided
    it). Guarantees: by the county approver or a finance officer of the county (else
    ``Forbidden``); a positive amount in fen, a source and a document number, a date not
    in the future (else ``InvalidInput``, nothing written); the balance raised and the
    movement appended under the fund row's lock; on the record."""
    officer = person(actor)
    if not any(has_role_in(actor, role, county_code) for role in FUND_ROLES):
        raise Forbidden(_("Only the county approver or finance deposits into the fund."))
    errors: dict[str, list[str]] = {}
    if amount <= 0 or amount > MAX_DEPOSIT or to_fen(amount) != amount:
        errors["amount"] = [_("Give a positive amount in yuan and fen.")]
    if not (source or "").strip():
        errors["source"] = [_("Say where the money comes from.")]
    elif len(source.strip()) > 200:
        errors["source"] = [_("At most 200 characters.")]
    if not (document_number or "").strip():
        errors["document_number"] = [_("Give the number of the document that decided it.")]
    elif len(document_number.strip()) > 100:
        errors["document_number"] = [_("At most 100 characters.")]
    if on > clock.today():
        errors["date"] = [_("A deposit is not dated in the future.")]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        fund = fund_locked(county_code)
        fund.balance += amount
        fund.save(update_fields=["balance"])
        movement = FundMovement.objects.create(
            fund=fund,
            kind=FundMovement.Kind.DEPOSIT,
            amount=amount,
            balance_after=fund.balance,
            source=source.strip(),
            document_number=document_number.strip(),
            date=on,
            created_by=officer,
        )
        audit_record(
            actor=actor,
            action="risk_fund.deposit",
            object_type="risk_fund",
            object_id=county_code,
            area_code=county_code,
            changes={
                "amount": [None, amount],
                "balance": [fund.balance - amount, fund.balance],
                "document_number": [None, movement.document_number],
            },
        )
    return movement
