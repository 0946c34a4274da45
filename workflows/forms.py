"""Forms of the pages. They shape input for the services and show their errors field by
field; the rules themselves (ID check digits, caps, states) are the services' to decide."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from applications import idnumbers
from applications.models import Area, Household, KinDeclaration, Person, ProgramItem
from approvals.models import Attachment


def add_service_errors(
    form: forms.Form, errors: Mapping[str, list[str]], aliases: Mapping[str, str] | None = None
) -> None:
    """Show a service's ``InvalidInput`` errors on the form: a key naming a field goes to that
    field, anything else to the top of the form."""
    aliases = aliases or {}
    for key, messages in errors.items():
        field = aliases.get(key, key)
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class Form(forms.Form):
    """A page's form that never lets the browser cut what is typed or pasted: no
    ``maxlength`` on its inputs, so an over-long value reaches the server and is refused
    with the field's message (as the API refuses it) instead of being saved cut short."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.pop("maxlength", None)


class IsoDateInput(forms.DateInput):
    """A date input rendered with its value as YYYY-MM-DD, the only form ``<input
    type="date">`` shows: a localised value (2026/12/04) would leave the field looking empty."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class HouseholdSearchForm(Form):
    q = forms.CharField(
        label=_("Head's name or last digits of the ID number"),
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )


def _checked_id_number(value: str) -> None:
    idnumbers.validate_id_number(value)


def _checked_bank_card(value: str) -> None:
    idnumbers.validate_bank_card(value)


class HouseholdForm(Form):
    area = forms.ChoiceField(label=_("village"))
    head_name = forms.CharField(label=_("head of household"), max_length=50)
    # The services check these numbers again; checked here too, so that every field's
    # problem is reported at once rather than the numbers' only on the next try.
    head_id_number = forms.CharField(
        label=_("head's ID number"),
        max_length=20,
        validators=[_checked_id_number],
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )
    bank_card = forms.CharField(
        label=_("bank card (一卡通) in the head's name"),
        max_length=40,
        validators=[_checked_bank_card],
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    bank_card_holder = forms.CharField(
        label=_("name on the bank card"),
        max_length=50,
        help_text=_("As printed on the card or passbook; it must be the head's name."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("phone"), max_length=20, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    household_type = forms.ChoiceField(label=_("household type"), choices=Household.Kind.choices)
    poverty_causes = forms.MultipleChoiceField(
        label=_("causes of poverty"),
        choices=Household.Cause.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, villages: Iterable[Area], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        area_field = cast(forms.ChoiceField, self.fields["area"])
        area_field.choices = [(v.code, v.name) for v in villages]


class HouseholdEditForm(Form):
    """A household's correction: its phone, card, type and causes; members are added with
    ``MemberFormSet`` and removed (with a reason) by the page's checkboxes."""

    phone = forms.CharField(
        label=_("new phone number"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to keep the number."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    bank_card = forms.CharField(
        label=_("new bank card (一卡通) in the head's name"),
        max_length=40,
        required=False,
        validators=[_checked_bank_card],
        help_text=_("Leave empty to keep the card. A new card holds payments for a while."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    bank_card_holder = forms.CharField(
        label=_("name on the bank card"),
        max_length=50,
        help_text=_("As printed on the card or passbook; it must be the head's name."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    household_type = forms.ChoiceField(label=_("household type"), choices=Household.Kind.choices)
    poverty_causes = forms.MultipleChoiceField(
        label=_("causes of poverty"),
        choices=Household.Cause.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(
        label=_("reason for the correction"),
        max_length=500,
        required=False,
        help_text=_("Required when members are removed; kept on the record."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


MEMBER_RELATIONS = [(v, label) for v, label in Person.Relation.choices if v != Person.Relation.HEAD]


class MemberForm(Form):
    """One household member besides the head; an empty row is skipped."""

    name = forms.CharField(label=_("name"), max_length=50, required=False)
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=20,
        required=False,
        validators=[_checked_id_number],
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    relation = forms.ChoiceField(
        label=_("relation"), choices=[("", "—"), *MEMBER_RELATIONS], required=False
    )

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any((data.get(k) or "").strip() for k in ("name", "id_number", "relation"))


MemberFormSet = forms.formset_factory(MemberForm, extra=2, max_num=30, absolute_max=30)


class ItemsForm(forms.Form):
    """A quantity per item of the program's parameters in force; zero or empty means none."""

    def __init__(self, *args: Any, items: Iterable[ProgramItem], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.program_items = list(items)
        for item in self.program_items:
            attrs = {
                "data-unit-amount": str(item.unit_amount),
                "inputmode": "numeric",
                "class": "qty",
            }
            self.fields[f"item_{item.code}"] = forms.IntegerField(
                label=f"{item.name}（{item.unit_amount} / {item.unit}）",
                min_value=0,
                max_value=item.max_quantity,
                required=False,
                widget=forms.NumberInput(attrs=attrs),
            )

    def item_lines(self) -> list[dict[str, Any]]:
        """The items for the service, in the order of the form's fields."""
        return [
            {"item": item.code, "quantity": self.cleaned_data.get(f"item_{item.code}")}
            for item in self.program_items
            if self.cleaned_data.get(f"item_{item.code}")
        ]

    def add_item_errors(self, errors: Mapping[str, list[str]], lines: list[dict[str, Any]]) -> None:
        """``items[i].quantity`` from the service names the i-th line sent."""
        aliases = {}
        for i, line in enumerate(lines):
            aliases[f"items[{i}].quantity"] = f"item_{line['item']}"
            aliases[f"items[{i}].item"] = f"item_{line['item']}"
        add_service_errors(self, errors, aliases)


class AppraisalForm(forms.Form):
    """The village democratic appraisal (民主评议)."""

    appraisal_date = forms.DateField(label=_("appraisal meeting date"), widget=IsoDateInput())
    appraisal_attendees = forms.IntegerField(label=_("attendees"), min_value=1)
    appraisal_votes_for = forms.IntegerField(label=_("votes for"), min_value=0)
    appraisal_votes_against = forms.IntegerField(label=_("votes against"), min_value=0)

    # Set by ``clean`` when the vote needs the cadre's confirmation (the page shows a box).
    needs_confirm = False

    def clean(self) -> dict[str, Any]:
        """A vote in which no majority of the attendees was for the household is recorded
        only when the cadre confirms it (``confirm`` ticked): a typing slip (5 for, 20
        against) would otherwise pass unnoticed into the posting."""
        data = super().clean() or {}
        attendees = data.get("appraisal_attendees")
        votes_for = data.get("appraisal_votes_for")
        if attendees and votes_for is not None and votes_for * 2 <= attendees:
            if self.data.get("confirm") != "1":
                self.needs_confirm = True
                raise forms.ValidationError(
                    _(
                        "Only %(for)s of %(n)s attendees voted for the household: check the "
                        "figures, or confirm that this is the vote."
                    )
                    % {"for": votes_for, "n": attendees}
                )
        return data


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(label=_("what the file is"), choices=Attachment.Kind.choices)
    # Type and size are checked by the service, from the file's first bytes.
    file = forms.FileField(
        label=_("file (PDF, JPEG or PNG, at most 10 MB)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,image/*"}),
    )


class ObjectionForm(Form):
    """An objection to a posted application: heard in the village and recorded by the cadre,
    or raised by anyone on the public notice board (``public=True``: the form then speaks
    to them, and names and contacts stay optional for anonymity)."""

    text = forms.CharField(
        label=_("objection"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    raised_by_name = forms.CharField(label=_("raised by (optional)"), max_length=50, required=False)
    contact = forms.CharField(label=_("contact (optional)"), max_length=50, required=False)

    PUBLIC_LABELS = {
        "text": _("Your objection"),
        "raised_by_name": _("Your name (optional)"),
        "contact": _("How to reach you (optional)"),
    }

    def __init__(self, *args: Any, public: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if public:
            for name, label in self.PUBLIC_LABELS.items():
                self.fields[name].label = label
            text = self.fields["text"]
            text.help_text = _("What is wrong with this application, as precisely as you can.")
            text.widget.attrs["rows"] = 4


class KinDeclarationForm(Form):
    """An official declares their own ID number or a relative's (亲属备案)."""

    relation = forms.ChoiceField(
        label=_("relation to you"), choices=KinDeclaration.Relation.choices
    )
    name = forms.CharField(label=_("name"), max_length=50)
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class KinCorrectionForm(KinDeclarationForm):
    """A correcting declaration: the right relation, name and ID number (typed in full
    again: only the masked one is shown), and why."""

    reason = forms.CharField(
        label=_("reason for the correction"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
