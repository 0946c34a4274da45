"""Reads of the ledger (``audit.selectors``)."""

from __future__ import annotations

import pytest

from audit.selectors import audit_history_of
from audit.services import audit_record, audit_refusal
from tests.factories import VILLAGE_1

pytestmark = pytest.mark.django_db


def record(action: str, object_id: object, object_type: str = "application") -> None:
    audit_record(
        actor=None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        area_code=VILLAGE_1,
    )


def test_audit_history_of_is_the_objects_entries_oldest_first() -> None:
    record("application.create", 7)
    record("application.create", 8)
    record("household.update", 7, object_type="household")
    record("application.submit", 7)

    history = audit_history_of(object_type="application", object_id=7)

    assert [e.action for e in history] == ["application.create", "application.submit"]


def test_audit_history_of_leaves_out_mere_views_but_keeps_refusals() -> None:
    record("application.create", 7)
    record("application.view", 7)
    audit_refusal(
        actor=None,
        action="application.submit",
        object_type="application",
        object_id=7,
        area_code=VILLAGE_1,
        reason="no appraisal",
    )

    history = list(audit_history_of(object_type="application", object_id="7"))

    assert [(e.action, e.outcome) for e in history] == [
        ("application.create", "done"),
        ("application.submit", "refused"),
    ]
