"""Money as printed on documents: figures with thousands separators, and Chinese capital
numerals (大写金额) as written on cheques and agreements, which cannot be altered by adding
a stroke."""

from __future__ import annotations

from decimal import Decimal

from common.money import fen_of, to_fen

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_GROUP_UNITS = ("", "万", "亿", "万亿")


def _group_in_words(group: int) -> str:
    """0 < group < 10000, with 零 for inner gaps (1001 → 壹仟零壹)."""
    text = ""
    zero_pending = False
    for position in range(3, -1, -1):
        digit = group // 10**position % 10
        if digit == 0:
            zero_pending = bool(text)
            continue
        if zero_pending:
            text += "零"
            zero_pending = False
        text += _DIGITS[digit] + _SMALL_UNITS[position]
    return text


def _yuan_in_words(yuan: int) -> str:
    if yuan == 0:
        return ""
    groups: list[int] = []
    while yuan:
        groups.append(yuan % 10000)
        yuan //= 10000
    if len(groups) > len(_GROUP_UNITS):
        raise ValueError("amount too large")
    text = ""
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        # A gap before this group (a zero group, or fewer than four digits in it) reads 零.
        if text and (group < 1000 or groups[index + 1] == 0):
            text += "零"
        text += _group_in_words(group) + _GROUP_UNITS[index]
    return text


def amount_in_words(amount: Decimal) -> str:
    """Chinese capital numerals for a yuan amount, rounded to the fen.

    5000 → 伍仟元整; 3200.50 → 叁仟贰佰元伍角; 1005.07 → 壹仟零伍元零柒分; 0 → 零元整.
    """
    if amount < 0:
        raise ValueError("a negative amount has no capital form on a document")
    fen_total = fen_of(amount)
    yuan, fen_part = divmod(fen_total, 100)
    jiao, fen = divmod(fen_part, 10)
    text = _yuan_in_words(yuan)
    if text:
        text += "元"
    if jiao == 0 and fen == 0:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif text:
        text += "零"  # 壹元零伍分
    if fen:
        text += _DIGITS[fen] + "分"
    return text


def amount_in_figures(amount: Decimal) -> str:
    """¥5,000.00 style, always two places."""
    return f"¥{to_fen(amount):,.2f}"
