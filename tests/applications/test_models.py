"""The application model's own helpers."""

from __future__ import annotations

import pytest
from django.db.models import Model
from django.utils import translation

from applications.models import Application


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_status_display_is_djangos_in_each_language(language: str) -> None:
    # The model's quicker get_status_display answers what Django's own would, for every
    # status and for a value that is none of them.
    field = Application._meta.get_field("status")
    djangos = Model._get_FIELD_display  # type: ignore[attr-defined]
    with translation.override(language):
        for value in [*Application.Status.values, "no_such_status"]:
            app = Application(status=value)
            assert app.get_status_display() == djangos(app, field)
    with translation.override("en"):
        assert Application(status="posted").get_status_display() == "in public posting"
    with translation.override("zh-hans"):
        assert Application(status="posted").get_status_display() != "in public posting"
