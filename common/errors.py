"""Errors a user can cause. Each carries a stable code (``Code``), a message in the user's
language, and leaves the database as it was. The API answers with the message as ``detail``
and the code beside it (``common.api.exception_handler``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError


class Code(StrEnum):
    """Why something was refused: one stable code per reason, for API clients and tests.
    Values never change once released (clients match on them); new reasons add members."""

    # input and access
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    NOT_SIGNED_IN = "not_signed_in"
    ROLE = "role"
    NOT_SELF = "not_self"
    SERVER_ERROR = "server_error"
    LOCKED_OUT = "locked_out"
    # kin declarations
    ALREADY_CORRECTED = "already_corrected"
    # the state machine and the chain's rules
    WRONG_STATE = "wrong_state"
    UNKNOWN_STEP = "unknown_step"
    REASON_REQUIRED = "reason_required"
    HOUSEHOLD_INELIGIBLE = "household_ineligible"
    APPRAISAL_MISSING = "appraisal_missing"
    NO_ITEMS = "no_items"
    POSTING_OPEN = "posting_open"
    OBJECTION_OPEN = "objection_open"
    OBJECTION_ONLY = "objection_only"
    SEPARATION_OF_DUTIES = "separation_of_duties"
    RECUSED = "recused"
    OVER_CAP = "over_cap"
    BUDGET_EXHAUSTED = "budget_exhausted"
    ACTIVE_APPLICATION = "active_application"
    NOT_EDITABLE = "not_editable"
    # payment to the head's card (DOMAIN rule 5)
    CARD_NOT_HEAD = "card_not_head"
    CARD_HELD = "card_held"
    CARD_CHECKER_PAYS = "card_checker_pays"
    CARD_NOT_HELD = "card_not_held"
    CARD_CHECKED = "card_checked"
    SIGNED_AGREEMENT_MISSING = "signed_agreement_missing"
    # objections
    OBJECTION_WINDOW = "objection_window"
    OBJECTION_RESOLVED = "objection_resolved"
    # documents
    NOT_APPROVED = "not_approved"
    NO_DECISION = "no_decision"
    NOTHING_POSTED = "nothing_posted"
    # payment rounds and bank files
    IN_OPEN_ROUND = "in_open_round"
    NOTHING_PAYABLE = "nothing_payable"
    PAYMENT_FAILED = "payment_failed"
    PAY_THROUGH_ROUND = "pay_through_round"
    ACCEPTANCE_MISSING = "acceptance_missing"
    ACCEPTANCE_FAILED = "acceptance_failed"
    ACCEPTANCE_RECHECK_MISSING = "acceptance_recheck_missing"
    ACCEPTANCE_ONLY = "acceptance_only"
    BANK_FILE_INVALID = "bank_file_invalid"
    ALREADY_IMPORTED = "already_imported"
    # inspectors' cross-checks
    REFERENCE_LIST_INVALID = "reference_list_invalid"
    # the registry's import
    IMPORT_INVALID = "import_invalid"
    # exit from poverty and return to it
    EXIT_FACTS_MISSING = "exit_facts_missing"
    INCOME_BELOW_LINE = "income_below_line"
    EXIT_CONFIRMATION_MISSING = "exit_confirmation_missing"
    RISK_MISSING = "risk_missing"
    # loans
    RATE_EXISTS = "rate_exists"
    LOAN_REQUEST_MISSING = "loan_request_missing"
    LOAN_DESK = "loan_desk"
    LOAN_CONTRACT_MISSING = "loan_contract_missing"
    LOAN_OVER_CAP = "loan_over_cap"
    LOAN_TERM_OVER_CAP = "loan_term_over_cap"
    BORROWER_AGE = "borrower_age"
    PURPOSE_FORBIDDEN = "purpose_forbidden"
    ACTIVE_LOAN = "active_loan"
    RATE_OVER_CAP = "rate_over_cap"
    NO_REFERENCE_RATE = "no_reference_rate"
    FUND_CAPACITY = "fund_capacity"
    DRAWDOWN_OVER_APPROVED = "drawdown_over_approved"
    DRAWDOWN_BEFORE_APPROVAL = "drawdown_before_approval"
    LOAN_NOT_DRAWN = "loan_not_drawn"
    LOAN_CLOSED = "loan_closed"
    REPAYMENT_FILE_INVALID = "repayment_file_invalid"
    COMPENSATION_EARLY = "compensation_early"
    NOTHING_TO_RECOVER = "nothing_to_recover"
    SETTLEMENT_DATE = "settlement_date"
    TRANSFER_TOTAL = "transfer_total"
    OBJECTION_DUPLICATE = "objection_duplicate"
    # tasks of the process
    NOT_HUMAN = "not_human"
    TASK_FINISHED = "task_finished"
    TASK_TAKEN = "task_taken"
    NOT_OWNER = "not_owner"
    TASK_STARTED = "task_started"
    NOT_COLLEAGUE = "not_colleague"
    SAME_OWNER = "same_owner"


class ServiceError(Exception):
    status_code = 400
    default_code = Code.INVALID

    def __init__(
        self,
        message: Any,
        *,
        code: Code | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.code: Code = code or self.default_code
        self.field = field
        # HTTP headers the answer carries (a lockout's Retry-After).
        self.headers = headers or {}

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field or "detail": [self.message]}


class InvalidInput(ServiceError):
    """Bad input: 400, with field errors."""

    def __init__(
        self, errors: dict[str, list[str]] | ValidationError, *, code: Code = Code.INVALID
    ) -> None:
        if isinstance(errors, ValidationError):
            errors = (
                {k: [str(m) for m in v] for k, v in errors.message_dict.items()}
                if hasattr(errors, "error_dict")
                else {"detail": [str(m) for m in errors.messages]}
            )
        self.errors = errors
        first = next(iter(errors.values()), [""])
        super().__init__(first[0] if first else "", code=code)

    def as_dict(self) -> dict[str, list[str]]:
        return self.errors


class NotFound(ServiceError):
    """Absent, or outside the user's area (the same answer for both)."""

    status_code = 404
    default_code = Code.NOT_FOUND


class Forbidden(ServiceError):
    """Visible to the user, but their role may not do this."""

    status_code = 403
    default_code = Code.ROLE


class Refused(ServiceError):
    """The step is not allowed now (wrong state, a rule, or someone acted first). The code
    says which rule."""

    status_code = 409

    def __init__(self, message: Any, *, code: Code, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


class Refusal:
    """A rule's answer when it says no: the code and the sentence for the user. Pure rules
    return one (or None); services raise it as ``Refused`` or ``Forbidden``."""

    __slots__ = ("code", "message")

    def __init__(self, code: Code, message: Any) -> None:
        self.code = code
        self.message = str(message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Refusal({self.code!s}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Refusal) and (self.code, self.message) == (
            other.code,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def refused(self) -> Refused:
        return Refused(self.message, code=self.code)
