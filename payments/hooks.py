"""Claims that layers above pay through payment rounds (a loan program's interest subsidy,
先收后贴: ``loans``). A program whose chain has no paying step has no payable applications;
a round of it pays the claims its kind's payer offers instead, one line per claim, and tells
the payer which the bank paid. Both run inside the round's transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from applications.models import Application, Program
from common.actors import Actor
from common.errors import Refusal


@dataclass(frozen=True)
class Payable:
    """A claim a round may pay: the household's application it belongs to, the amount, and
    why it may not be paid now (None: payable)."""

    claim_id: int
    application: Application
    amount: Decimal
    refusal: Refusal | None


@dataclass(frozen=True)
class ClaimPaid:
    claim_id: int
    line_reference: str
    amount: Decimal
    bank_txn_id: str


# (actor, program, area code prefix, claim ids or None for all) → the claims, locked.
Payables = Callable[[Actor, Program, str, Collection[int] | None], list[Payable]]
# (actor, the claims the bank paid) → None; records them paid.
Paid = Callable[[Actor, Sequence[ClaimPaid]], None]


@dataclass(frozen=True)
class Payer:
    payables: Payables
    paid: Paid


_payers: dict[str, Payer] = {}


def on_claims(kind: str, payer: Payer) -> Payer:
    _payers[kind] = payer
    return payer


def payer_of(kind: str) -> Payer | None:
    return _payers.get(kind)
