"""The audit search speaks the reader's language: actions and states by their labels, and
an action found by the words of its label."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from inspection.templatetags.audit_labels import action_label, state_label
from loans.models import Loan
from tests.factories import S, World


def test_actions_and_states_read_as_their_labels() -> None:
    with translation.override("zh-hans"):
        assert action_label("application.close_posting") != "application.close_posting"
        assert state_label("township_review") == "乡镇审核中"
        assert state_label("compensated") == str(Loan.Status.COMPENSATED.label)
        assert state_label("no-such-state") == "no-such-state"


@pytest.mark.django_db
def test_the_search_shows_labels_and_finds_an_action_by_its_words(world: World) -> None:
    app = world.application(S.TOWNSHIP_REVIEW)
    client = Client()
    client.force_login(world.user("inspector_a"))

    html = client.get("/inspect/audit/", {"application": app.pk}).content.decode()
    found = client.get("/inspect/audit/", {"action": "提交"}).content.decode()

    assert "posted → township_review" not in html and "乡镇审核中" in html
    # 提交 is the label's word, not the code's: the submissions are found by it.
    assert 'title="application.submit"' in found
