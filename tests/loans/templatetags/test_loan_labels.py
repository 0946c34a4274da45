from __future__ import annotations

from django.utils import translation

from loans.templatetags.loan_labels import purpose_label


def test_a_purpose_shows_its_label_and_an_unknown_code_as_it_is() -> None:
    with translation.override("zh-hans"):
        assert "乡村旅游" in purpose_label("tourism")
    assert purpose_label("no_such_purpose") == "no_such_purpose"
