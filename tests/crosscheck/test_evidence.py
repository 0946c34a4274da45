"""What a lead says (``crosscheck.evidence``): every rule has a name and a sentence in the
reader's language built from its facts."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from crosscheck.evidence import RULE_LABELS, lead_sentence, rule_label
from crosscheck.rules import RULES

LISTED = {"kind": "vehicle", "source": "市交警支队", "as_of": "2026-11-01", "sha256": "ab" * 32}
FACTS: dict[str, dict[str, Any]] = {
    "public_servant": {
        "list": LISTED | {"kind": "public_servant"},
        "person": "王明",
        "relation": "spouse",
        "rows": [{"row": 9, "name": "王明", "detail": "县教育局"}],
    },
    "vehicle": {
        "list": LISTED,
        "person": "王明",
        "relation": "child",
        "rows": [{"row": 3, "detail": "甘F8A866", "value": "128000.00"}],
        "threshold": "30000",
    },
    "property": {
        "list": LISTED | {"kind": "property"},
        "person": "王明",
        "relation": "head",
        "rows": [{"row": 2, "detail": "南大街88号", "category": "商铺"}],
    },
    "business": {
        "list": LISTED | {"kind": "business"},
        "person": "王明",
        "relation": "head",
        "rows": [{"row": 2, "detail": "农资经营部", "category": "存续"}],
    },
    "deceased": {
        "list": LISTED | {"kind": "deceased"},
        "person": "石永福",
        "relation": "head",
        "date": "2026-11-10",
        "application": 202,
        "program": "到户产业扶持",
        "applied": "2026-11-30",
        "applied_after": True,
        "paid_after": ["2026-12-01"],
    },
    "moved_out": {
        "list": LISTED | {"kind": "moved_out"},
        "person": "崔浩",
        "relation": "child",
        "date": "2026-10-01",
        "application": 200,
        "program": "到户产业扶持",
        "applied": "2026-11-30",
    },
    "shared_card": {
        "card": "6228 **** **** 2204",
        "households": 2,
        "others": [{"head": "毛*春", "village": "四号村"}],
        "elsewhere": 1,
    },
    "shared_phone": {
        "phone": "139****1111",
        "households": 3,
        "threshold": 3,
        "others": [{"head": "曾*", "village": "花园村"}],
    },
    "kin_handled": {
        "official": "reviewer_t1",
        "relation": "sibling",
        "relative": "王明",
        "declared": "2026-12-01",
        "steps": [
            {"step": "township_approve", "date": "2026-11-20"},
            {"step": "round.approve", "date": "2026-11-25"},
        ],
    },
    "card_changed_before_payment": {
        "round": "PR1",
        "sent": "2026-12-05",
        "card": "6228 **** **** 4162",
        "changed": "2026-12-01",
        "days": 4,
        "threshold": 30,
    },
    "paid_amount_mismatch": {
        "round": "PR1",
        "sent_amount": "4000.00",
        "paid_amount": "3500.00",
        "difference": "500.00",
    },
    "duplicate_benefit": {
        "item": "羊",
        "year": 2026,
        "applications": [{"id": 1, "program": "甲"}, {"id": 2, "program": "乙"}],
    },
    "appraisal_pattern": {
        "count": 10,
        "dates": 2,
        "first": "2026-10-01",
        "last": "2026-11-01",
        "attendees": 41,
        "for": 39,
        "against": 2,
    },
}


def test_every_rule_has_a_label_and_facts_here() -> None:
    assert set(RULE_LABELS) == {r.code for r in RULES} == set(FACTS)


@pytest.mark.parametrize("rule", sorted(FACTS))
def test_sentence_in_chinese_names_what_matched(rule: str) -> None:
    with translation.override("zh-hans"):
        text = lead_sentence(rule, FACTS[rule])
    assert text and "%(" not in text
    assert not any(word in text for word in ("The ", " was ", "declared", "list of"))


def test_sentence_in_english() -> None:
    with translation.override("en"):
        text = lead_sentence("paid_amount_mismatch", FACTS["paid_amount_mismatch"])
    assert text == (
        "Round PR1 sent 4000.00 yuan, but the bank confirmed 3500.00 yuan: 500.00 yuan apart."
    )


def test_kin_sentence_names_the_steps_and_the_relation() -> None:
    with translation.override("zh-hans"):
        text = lead_sentence("kin_handled", FACTS["kin_handled"])
    assert "审批发放批次" in text and "兄弟姐妹" in text
    assert "township_approve" not in text and "round.approve" not in text


def test_deceased_sentence_says_both_applied_and_paid() -> None:
    with translation.override("zh-hans"):
        text = lead_sentence("deceased", FACTS["deceased"])
    assert "2026-11-30 申请" in text and "2026-12-01 发放" in text


def test_unknown_rule_is_its_code() -> None:
    assert rule_label("nope") == "nope"
    assert lead_sentence("nope", {}) == "nope"
