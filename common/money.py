"""Money: ``Decimal`` yuan with two places, never float. One rounding rule to the fen for the
whole system, the one Chinese finance and banks use (四舍五入, half away from zero), so a
policy's cap, an agreement's words and a bank file's amount agree to the fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ROUNDING = ROUND_HALF_UP
ZERO = Decimal("0.00")


def to_fen(amount: Decimal | int | str) -> Decimal:
    """The amount rounded to the fen by the system's one rule."""
    return Decimal(amount).quantize(FEN, rounding=ROUNDING)


def fen_of(amount: Decimal | int | str) -> int:
    """The amount as a whole number of fen (bank files and amounts in words count in fen)."""
    return int((to_fen(amount) * 100).to_integral_value(rounding=ROUNDING))
