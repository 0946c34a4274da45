from __future__ import annotations

from decimal import Decimal

import pytest

from common.money import fen_of, to_fen


@pytest.mark.parametrize(
    "amount, fen",
    [
        ("0.005", "0.01"),  # half up, as banks round, not half even (which gives 0.00)
        ("0.015", "0.02"),
        ("0.025", "0.03"),  # half even would give 0.02
        ("-0.005", "-0.01"),  # away from zero
        ("5000", "5000.00"),
        (200, "200.00"),
    ],
)
def test_to_fen_rounds_half_up(amount: str | int, fen: str) -> None:
    assert to_fen(amount) == Decimal(fen)
    assert str(to_fen(amount)) == fen


def test_fen_of_counts_whole_fen() -> None:
    assert fen_of(Decimal("3200.505")) == 320051
    assert fen_of("0") == 0
