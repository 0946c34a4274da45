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


def test_actor_label_names_the_system_and_the_public_and_keeps_a_users_name() -> None:
    from approvals.labels import actor_label
    from audit.services import PUBLIC_ACTOR_NAME, SYSTEM_ACTOR_NAME

    with translation.override("zh-hans"):
        assert actor_label(SYSTEM_ACTOR_NAME) == "系统"
        assert actor_label(PUBLIC_ACTOR_NAME) == "公众"
        assert actor_label("cadre_v1") == "cadre_v1"


def test_object_label_names_every_kind_of_record_the_services_write() -> None:
    import re
    from pathlib import Path

    from approvals.labels import OBJECT_LABELS, object_label

    root = Path(__file__).resolve().parents[2]
    written = {
        match
        for path in root.glob("*/**/*.py")
        if not any(part.startswith(".") or part in ("tests", "var") for part in path.parts)
        for match in re.findall(r'object_type="([a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    assert written and written <= set(OBJECT_LABELS)
    with translation.override("zh-hans"):
        assert object_label("payment_round") == "发放批次"
        assert object_label("nothing_known") == "nothing_known"
