"""Loan programs: a program of kind ``loan`` with its parameter versions, each carrying its
loan parameters (``LoanParameters``) written with it, in one transaction, on the record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from applications.models import Program, ProgramVersion
from applications.services import program_create, program_version_add
from audit.services import audit_record, model_changes
from common.actors import Actor
from common.errors import InvalidInput
from loans import policy
from loans.models import LoanParameters

DEFAULTS: dict[str, Any] = {
    "eligible_statuses": list(policy.DEFAULT_ELIGIBLE),
    "repayment_methods": list(policy.DEFAULT_METHODS),
    "allowed_purposes": list(policy.DEFAULT_ALLOWED),
    "forbidden_purposes": list(policy.DEFAULT_FORBIDDEN),
}


def _parameters_add(
    *, actor: Actor, version: ProgramVersion, parameters: Mapping[str, Any]
) -> LoanParameters:
    values = {**DEFAULTS, **parameters}
    problems = policy.parameter_problems(values, max_months=version.loan_max_months)
    if problems:
        raise InvalidInput(problems)
    row = LoanParameters(version=version, **values)
    try:
        row.full_clean(exclude=["version"])
    except ValidationError as exc:
        raise InvalidInput(exc) from None
    row.save()
    audit_record(
        actor=actor,
        action="program.loan_parameters",
        object_type="program",
        object_id=version.program_id,
        area_code=version.program.area_id,
        changes=model_changes(None, {"effective_from": version.effective_from, **values}),
    )
    return row


def loan_program_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    county_code: str,
    budget: Decimal,
    effective_from: date,
    policy_reference: str,
    max_amount: Decimal = Decimal("50000.00"),
    max_months: int = 36,
    posting_days: int = 3,
    parameters: Mapping[str, Any] | None = None,
) -> Program:
    """A loan program with its first version and loan parameters (defaults: the seeds'
    policy, every figure a parameter). Bad parameters change nothing (``InvalidInput``)."""
    with transaction.atomic():
        program = program_create(
            actor=actor,
            code=code,
            name=name,
            kind=Program.Kind.LOAN,
            county_code=county_code,
            budget=budget,
            effective_from=effective_from,
            policy_reference=policy_reference,
            household_cap=max_amount,
            posting_days=posting_days,
            loan_max_amount=max_amount,
            loan_max_months=max_months,
        )
        version = program.versions.get()
        _parameters_add(actor=actor, version=version, parameters=parameters or {})
    return program


def loan_version_add(
    *,
    actor: Actor,
    program: Program,
    effective_from: date,
    policy_reference: str,
    max_amount: Decimal,
    max_months: int,
    posting_days: int = 3,
    parameters: Mapping[str, Any] | None = None,
) -> ProgramVersion:
    """New effective-dated parameters of a loan program, loan parameters included."""
    if program.kind != Program.Kind.LOAN:
        raise InvalidInput({"program": [_("This is not a loan program.")]})
    with transaction.atomic():
        version = program_version_add(
            actor=actor,
            program=program,
            effective_from=effective_from,
            policy_reference=policy_reference,
            household_cap=max_amount,
            posting_days=posting_days,
            loan_max_amount=max_amount,
            loan_max_months=max_months,
        )
        _parameters_add(actor=actor, version=version, parameters=parameters or {})
    return version
