"""The pure rules of DOMAIN rules 4 and 5: recusal and the payment holds on the bank card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.contrib.auth.models import User

from applications.models import Application, Program
from approvals import policy
from common.errors import Code

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OFFICIAL = User(pk=7)
OTHER = User(pk=8)


def card(**overrides: Any) -> policy.CardFacts:
    values: dict[str, Any] = {
        "holder_is_head": True,
        "shared": False,
        "changed_at": None,
        "hold_days": 30,
        "checked_by_id": None,
    }
    values.update(overrides)
    return policy.CardFacts(**values)


def test_is_recused_when_household_includes_a_declared_person() -> None:
    assert policy.is_recused(OFFICIAL, household_hashes={"a", "b"}, declared_hashes={"b", "z"})


def test_is_recused_not_when_nobody_declared_is_in_the_household() -> None:
    assert not policy.is_recused(OFFICIAL, household_hashes={"a", "b"}, declared_hashes={"z"})


def test_is_recused_never_for_the_system() -> None:
    assert not policy.is_recused(None, household_hashes={"a"}, declared_hashes={"a"})


def test_transition_refusal_refuses_every_step_to_a_recused_user() -> None:
    # The recusal is decided before anything of the application but its chain is read.
    app: Any = SimpleNamespace(program=SimpleNamespace(kind=Program.Kind.SUBSIDY))
    refusal = policy.transition_refusal(
        "township_approve", app, OFFICIAL, open_objections=0, now=NOW, recused=True
    )
    assert refusal == policy.recusal_refusal()
    assert refusal is not None and refusal.code == Code.RECUSED


def test_payment_holds_none_for_an_unshared_unchanged_card() -> None:
    assert policy.payment_holds(card(), now=NOW) == []


def test_payment_holds_a_shared_card() -> None:
    assert len(policy.payment_holds(card(shared=True), now=NOW)) == 1


def test_payment_holds_a_card_changed_inside_the_window() -> None:
    holds = policy.payment_holds(card(changed_at=NOW - timedelta(days=29)), now=NOW)
    assert len(holds) == 1
    assert "30" in holds[0]


def test_payment_holds_not_once_the_window_has_passed() -> None:
    assert policy.payment_holds(card(changed_at=NOW - timedelta(days=30)), now=NOW) == []


def test_payment_holds_follow_the_program_window() -> None:
    changed = NOW - timedelta(days=6)
    assert policy.payment_holds(card(changed_at=changed, hold_days=7), now=NOW)
    assert not policy.payment_holds(card(changed_at=changed, hold_days=5), now=NOW)


def test_payment_holds_switched_off_by_a_zero_window() -> None:
    assert policy.payment_holds(card(changed_at=NOW, hold_days=0), now=NOW) == []


def test_card_refusal_held_until_checked() -> None:
    assert policy.card_refusal(card(shared=True), OFFICIAL, now=NOW) is not None


def test_card_refusal_released_by_someone_elses_check() -> None:
    assert policy.card_refusal(card(shared=True, checked_by_id=OTHER.pk), OFFICIAL, now=NOW) is None


def test_card_refusal_refuses_the_checker_as_payer() -> None:
    refusal = policy.card_refusal(card(shared=True, checked_by_id=OFFICIAL.pk), OFFICIAL, now=NOW)
    assert refusal is not None


def test_card_refusal_refuses_a_card_not_in_the_heads_name_even_when_checked() -> None:
    refusal = policy.card_refusal(
        card(holder_is_head=False, checked_by_id=OTHER.pk), OFFICIAL, now=NOW
    )
    assert refusal is not None


def application(status: str) -> Any:
    return SimpleNamespace(status=status)


def test_is_editable_only_a_draft_or_returned_application() -> None:
    editable = {s for s in Application.Status.values if policy.is_editable(application(s))}

    assert editable == {Application.Status.DRAFT, Application.Status.RETURNED}


def test_objection_refusal_none_only_during_posting() -> None:
    assert policy.objection_refusal(application(Application.Status.POSTED)) is None
    for status in set(Application.Status.values) - {Application.Status.POSTED}:
        assert policy.objection_refusal(application(status))


def test_posting_days_left_rounds_up_a_started_day() -> None:
    assert policy.posting_days_left(NOW + timedelta(days=2, hours=1), now=NOW) == 3
    assert policy.posting_days_left(NOW + timedelta(days=2), now=NOW) == 2


def test_posting_days_left_zero_once_the_window_has_passed_and_none_without_one() -> None:
    assert policy.posting_days_left(NOW - timedelta(hours=5), now=NOW) == 0
    assert policy.posting_days_left(None, now=NOW) is None


def test_card_check_refusal_only_for_a_held_unchecked_approved_payment() -> None:
    approved = application(Application.Status.APPROVED)
    held = card(shared=True)

    assert policy.card_check_refusal(approved, held, now=NOW) is None
    assert policy.card_check_refusal(application(Application.Status.DISBURSED), held, now=NOW)
    assert policy.card_check_refusal(approved, card(), now=NOW)
    assert policy.card_check_refusal(approved, card(shared=True, checked_by_id=8), now=NOW)
