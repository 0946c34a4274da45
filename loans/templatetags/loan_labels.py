"""Loans' codes in the reader's language on the pages."""

from __future__ import annotations

from django import template

from loans.policy import METHOD_LABELS, PURPOSES

register = template.Library()


@register.filter
def purpose_label(code: str) -> str:
    """A loan purpose's label (乡村旅游, not ``tourism``); an unknown code as it is."""
    label = PURPOSES.get(code)
    return str(label) if label is not None else code


@register.filter
def method_label(code: str) -> str:
    """A repayment method's label; an unknown code as it is."""
    label = METHOD_LABELS.get(code)  # type: ignore[call-overload]
    return str(label) if label is not None else code
