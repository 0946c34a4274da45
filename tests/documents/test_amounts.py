from decimal import Decimal

import pytest

from documents.amounts import amount_in_figures, amount_in_words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("5000", "伍仟元整"),
        ("3200.50", "叁仟贰佰元伍角"),
        ("1005.07", "壹仟零伍元零柒分"),
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("10", "壹拾元整"),
        ("100010", "壹拾万零壹拾元整"),
        ("50000.00", "伍万元整"),
        ("10203000.01", "壹仟零贰拾万叁仟元零壹分"),
    ],
)
def test_amount_in_words_writes_chinese_capitals(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


def test_amount_in_words_refuses_negative_amounts() -> None:
    with pytest.raises(ValueError):
        amount_in_words(Decimal("-1"))


def test_amount_in_figures_has_separators_and_two_places() -> None:
    assert amount_in_figures(Decimal("5000")) == "¥5,000.00"
