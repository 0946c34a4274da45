"""Forms of the pages (``workflows.forms``)."""

from __future__ import annotations

from django.utils import translation

from workflows.forms import ObjectionForm


def labels(form: ObjectionForm) -> dict[str, str]:
    return {name: str(field.label) for name, field in form.fields.items()}


def test_objection_form_of_the_cadre_names_who_raised_it() -> None:
    with translation.override("en"):
        form = ObjectionForm()

        assert labels(form) == {
            "text": "objection",
            "raised_by_name": "raised by (optional)",
            "contact": "contact (optional)",
        }
        assert not form.fields["text"].help_text


def test_objection_form_of_the_notice_board_speaks_to_the_public() -> None:
    with translation.override("zh-hans"):
        form = ObjectionForm(public=True)

        assert labels(form)["text"] == "异议内容"
        assert "具体" in str(form.fields["text"].help_text)
    cadre = ObjectionForm()
    assert labels(cadre) != labels(form)
    assert cadre.fields["text"].widget.attrs["rows"] == 3  # the public form changed its own


def test_objection_form_rules_alike_on_both_doors() -> None:
    data = {"text": "x" * 2001, "raised_by_name": "王" * 51, "contact": ""}

    for public in (False, True):
        form = ObjectionForm(data, public=public)
        assert not form.is_valid()
        assert set(form.errors) == {"text", "raised_by_name"}
    assert ObjectionForm({"text": "户主已外出。"}, public=True).is_valid()
