"""The audit search's rows in the reader's language: an action's label (拨付, not
``application.disburse``) and a state's (乡镇审核中, not ``township_review``)."""

from __future__ import annotations

from functools import cache

from django import template
from django.db.models import TextChoices

from applications.models import Application, Household
from approvals.labels import TASK_STATE_LABELS
from approvals.labels import action_label as _action_label
from approvals.labels import actor_label as _actor_label
from approvals.labels import object_label as _object_label
from approvals.models import Objection
from common.models import BatchJob
from crosscheck.models import Lead
from loans.models import Loan, SubsidyClaim
from payments.models import PaymentLine, PaymentRound

register = template.Library()

# The states entries record, by the kind of record; applications' first, as most are theirs.
_STATES: tuple[type[TextChoices], ...] = (
    Application.Status,
    Loan.Status,
    SubsidyClaim.Status,
    PaymentRound.Status,
    PaymentLine.Status,
    Objection.Status,
    Lead.Status,
    BatchJob.Status,
)


@cache
def _state_codes() -> dict[str, type[TextChoices]]:
    codes: dict[str, type[TextChoices]] = {}
    for choices in _STATES:
        for value in choices.values:
            codes.setdefault(value, choices)
    return codes


@register.filter
def action_label(code: str) -> str:
    return _action_label(code)


@register.filter
def actor_label(name: str) -> str:
    return _actor_label(name)


@register.filter
def object_label(code: str) -> str:
    return _object_label(code)


# States whose code another model also uses, read by what the entry is about: a household
# ``returned`` to poverty, not an application returned for correction.
_OBJECT_STATES: dict[str, type[TextChoices]] = {"household": Household.Status}


@register.filter
def state_label(code: str, object_type: str = "") -> str:
    """The label of a recorded state (the code itself when no model knows it), read as a
    state of ``object_type`` when that has states of its own."""
    own = _OBJECT_STATES.get(object_type)
    if own is not None and code in own.values:
        return str(own(code).label)
    choices = _state_codes().get(code)
    if choices is not None:
        return str(choices(code).label)
    task = TASK_STATE_LABELS.get(code)
    return str(task) if task is not None else code
