"""The subsidy chain as a viewflow process (``workflows.flows``)."""

from __future__ import annotations

from django.utils import translation

from workflows.flows import SubsidyApplicationFlow


def test_process_title_in_the_users_language() -> None:
    with translation.override("zh-hans"):
        assert str(SubsidyApplicationFlow.process_title) == "到户产业扶持申请"
    with translation.override("en"):
        assert str(SubsidyApplicationFlow.process_title) == "Household industry subsidy application"
