"""What the pages call steps and recorded actions (``approvals.labels``)."""

from __future__ import annotations

from django.utils import translation

from applications.chains import SUBSIDY, step_names
from approvals.labels import ACTION_LABELS, STEP_LABELS, action_label


def test_every_step_of_the_chain_has_a_label_and_is_a_recorded_action() -> None:
    assert set(STEP_LABELS) == set(step_names()) >= set(SUBSIDY.names) | {"bank_approve"}
    assert {f"application.{name}" for name in step_names()} <= set(ACTION_LABELS)


def test_action_label_names_a_recorded_action_in_the_users_language() -> None:
    with translation.override("en"):
        assert action_label("application.township_approve") == "Approve (township)"
        assert action_label("audit.verify") == "ledger verified"
    with translation.override("zh-hans"):
        assert action_label("application.township_approve") == "审核通过（乡镇）"


def test_action_label_of_an_unknown_action_is_the_action_itself() -> None:
    assert action_label("ledger.repair") == "ledger.repair"
