"""Writes to the registry: areas, households, programs and role grants. Every write is one
transaction with its audit entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from applications import idnumbers
from applications.models import (
    Application,
    Area,
    Bank,
    BankOfficer,
    Household,
    KinDeclaration,
    KinFlag,
    Person,
    Program,
    ProgramItem,
    ProgramVersion,
    StatusChange,
)
from applications.permissions import grants_of, permission_grant
from applications.roles import REVEAL_PERMISSION, ROLE_LEVEL, ROLE_PERMISSION, Role
from applications.selectors import (
    ACTING_ROLES,
    bank_cards_shared,
    can_reveal_id,
    has_role_in,
    households_visible_to,
    kin_matches,
)
from audit.partitions import partition_ensure
from audit.services import audit_record, audit_refusal, model_changes
from common import clock
from common.actors import Actor, person_or_none
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused

MAX_MEMBERS = 30


def area_create(*, code: str, name: str, parent: Area | None = None, actor: Actor = None) -> Area:
    """Create an area (idempotent on the code); the level follows from the code."""
    from applications.roles import level_of_code

    with transaction.atomic():
        area, created = Area.objects.get_or_create(
            code=code, defaults={"name": name, "level": level_of_code(code), "parent": parent}
        )
        if created:
            area.full_clean()
            if area.level == Area.Level.COUNTY:
                partition_ensure(code[:6])  # its own part of the ledger, before its first entry
            audit_record(
                actor=actor,
                action="area.create",
                object_type="area",
                object_id=code,
                area_code=code,
                changes=model_changes(None, {"name": name, "level": area.level}),
            )
    return area


# --- households --------------------------------------------------------------------------


def _clean_person(name: str, id_number: str, field: str) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors[f"{field}name"] = [_("A name is required.")]
    elif len(name) > 50:
        errors[f"{field}name"] = [_("A name has at most 50 characters.")]
    try:
        number = idnumbers.validate_id_number(id_number)
    except ValidationError as exc:
        errors[f"{field}id_number"] = [str(m) for m in exc.messages]
        number = ""
    if errors:
        raise InvalidInput(errors)
    return name, number


def _member_rows(
    members: Iterable[Mapping[str, str]], key: str, errors: dict[str, list[str]]
) -> list[tuple[str, str, str]]:
    """Members besides the head as (name, ID number, relation), checked; each problem goes
    into ``errors`` as ``<key>[i].<field>``."""
    rows = []
    for i, member in enumerate(members):
        relation = member.get("relation", "")
        if relation not in Person.Relation.values or relation == Person.Relation.HEAD:
            errors[f"{key}[{i}].relation"] = [_("Choose the member's relation to the head.")]
        try:
            name, number = _clean_person(member.get("name", ""), member.get("id_number", ""), "")
            rows.append((name, number, relation))
        except InvalidInput as exc:
            for field, msgs in exc.errors.items():
                errors[f"{key}[{i}].{field}"] = msgs
    return rows


def _holder_errors(holder: str, head_name: str) -> list[str]:
    """Why the name on the bank card will not do (DOMAIN rule 5), or nothing."""
    if not holder:
        return [_("Enter the name on the bank card.")]
    if len(holder) > 50:
        return [_("A name has at most 50 characters.")]
    if not idnumbers.card_holder_matches(holder, head_name):
        return [
            _(
                "Subsidies are paid only to a bank card in the head of household's name: this "
                "card is in the name of %(holder)s, the head is %(head)s."
            )
            % {"holder": holder, "head": head_name}
        ]
    return []


def _shared_card_record(*, actor: Actor, household: Household) -> None:
    """A card also registered to another household is a red flag (DOMAIN rule 5): on the
    record for inspectors, and the payments to it wait for a card check."""
    holders = dict(bank_cards_shared([household.bank_card_hash]))
    others = holders.get(household.bank_card_hash, 1) - 1  # the household itself is saved
    if others:
        audit_record(
            actor=actor,
            action="household.shared_card",
            object_type="household",
            object_id=household.pk,
            area_code=household.area_code,
            changes={
                "bank_card": [None, household.bank_card_masked],
                "bank_card_hash": [None, household.bank_card_hash[:16]],
                "other_households": [None, others],
            },
        )


def household_create(
    *,
    actor: Actor,
    area_code: str,
    head_name: str,
    head_id_number: str,
    bank_card: str,
    phone: str,
    household_type: str,
    poverty_causes: Iterable[str],
    members: Iterable[Mapping[str, str]] = (),
    bank_card_holder: str | None = None,
) -> Household:
    """Register a household with its members.

    Guarantees: the village is in the actor's area (a village cadre's, or wider for an
    admin); every ID number is valid and in no other household (the refusal does not say
    which household holds it); the bank card is in the head's name (``bank_card_holder``,
    the name on the card; a caller that leaves it out states that it is the head's);
    numbers are stored only encrypted; one audit entry, and a second one when the card is
    also another household's (a red flag, not a refusal).
    """
    area = Area.objects.filter(code=area_code, level=Area.Level.VILLAGE).first()
    if area is None:
        raise InvalidInput({"area": [_("Choose a village by its 12-digit area code.")]})
    if not (
        getattr(actor, "is_superuser", False) or has_role_in(actor, Role.VILLAGE_CADRE, area.code)
    ):
        audit_refusal(
            actor=actor,
            action="household.create",
            object_type="household",
            area_code=area.code,
            reason="no village cadre role in this village",
        )
        raise NotFound(_("No such village in your area."), field="area")

    errors: dict[str, list[str]] = {}
    try:
        head_name, head_number = _clean_person(head_name, head_id_number, "head_")
    except InvalidInput as exc:
        errors.update(exc.errors)
        head_number = ""
    try:
        card = idnumbers.validate_bank_card(bank_card)
    except ValidationError as exc:
        errors["bank_card"] = [str(m) for m in exc.messages]
        card = ""
    holder = head_name if bank_card_holder is None else (bank_card_holder or "").strip()
    if head_name and "head_name" not in errors:
        holder_errors = _holder_errors(holder, head_name)
        if holder_errors:
            errors["bank_card_holder"] = holder_errors
    causes = list(dict.fromkeys(poverty_causes or []))
    bad_causes = [c for c in causes if c not in Household.Cause.values]
    if bad_causes or not causes:
        errors["poverty_causes"] = [_("Choose at least one cause of poverty from the list.")]
    if household_type not in Household.Kind.values:
        errors["household_type"] = [_("Choose a household type from the list.")]
    members = list(members or [])
    if len(members) > MAX_MEMBERS:
        errors["members"] = [_("A household has at most 30 members.")]
        members = []
    member_rows = _member_rows(members, "members", errors)
    numbers = [head_number] + [n for _, n, _ in member_rows]
    if head_number and len(set(numbers)) != len(numbers):
        errors["members"] = [_("The same ID number appears twice in this household.")]
    draft = Household(
        area=area,
        area_code=area.code,
        head_name=head_name,
        household_type=household_type,
        poverty_causes=causes,
        phone=(phone or "").strip(),
    )
    try:
        draft.clean_fields(
            exclude=[
                "area",
                "head_id_masked",
                "bank_card_cipher",
                "bank_card_hash",
                "bank_card_masked",
                "bank_card_holder",
                "created_by",
                "poverty_causes",
                "household_type",
                "head_name",
            ]
        )
    except ValidationError as exc:
        for key, msgs in exc.message_dict.items():
            errors[key] = (
                [_("Enter a valid mobile or landline number.")] if key == "phone" else msgs
            )
    if errors:
        raise InvalidInput(errors)

    hashes = [idnumbers.lookup_hash(n) for n in numbers]
    try:
        with transaction.atomic():
            if Person.objects.filter(id_hash__in=hashes).exists():
                raise IntegrityError("duplicate id")
            draft.head_id_masked = idnumbers.mask_id_number(head_number)
            draft.bank_card_cipher = idnumbers.encrypt(card)
            draft.bank_card_hash = idnumbers.lookup_hash(card)
            draft.bank_card_masked = idnumbers.mask_bank_card(card)
            draft.bank_card_holder = holder
            draft.created_by = person_or_none(actor)
            draft.save()
            people = [
                Person(
                    household=draft,
                    name=head_name,
                    relation=Person.Relation.HEAD,
                    id_cipher=idnumbers.encrypt(head_number),
                    id_hash=hashes[0],
                    id_masked=draft.head_id_masked,
                )
            ] + _people(draft, member_rows, hashes[1:])
            Person.objects.bulk_create(people)
            audit_record(
                actor=actor,
                action="household.create",
                object_type="household",
                object_id=draft.pk,
                area_code=area.code,
                changes=model_changes(None, household_snapshot(draft, people)),
            )
            _shared_card_record(actor=actor, household=draft)
    except IntegrityError:
        raise InvalidInput(
            {
                "head_id_number": [
                    _(
                        "This ID number is already registered in another household. "
                        "One person belongs to one household; contact the township if the "
                        "registry is wrong."
                    )
                ]
            }
        ) from None
    return draft


def household_snapshot(
    household: Household, people: Iterable[Person] | None = None
) -> dict[str, Any]:
    """The audited view of a household: masked numbers and the card's hash, never clear text."""
    if people is None:
        people = household.members.all()
    return {
        "area": household.area_code,
        "head_name": household.head_name,
        "head_id": household.head_id_masked,
        "household_type": household.household_type,
        "poverty_causes": list(household.poverty_causes),
        "status": household.status,
        "bank_card": household.bank_card_masked,
        "bank_card_hash": household.bank_card_hash[:16],
        "bank_card_holder": household.bank_card_holder,
        "phone": idnumbers.mask_phone(household.phone),
        "members": sorted(f"{p.relation}:{p.name}:{p.id_masked}" for p in people),
    }


def household_update(
    *,
    actor: Actor,
    household_id: int,
    phone: str | None = None,
    bank_card: str | None = None,
    household_type: str | None = None,
    poverty_causes: Iterable[str] | None = None,
    bank_card_holder: str | None = None,
    members_add: Iterable[Mapping[str, str]] = (),
    members_remove: Iterable[int] = (),
    reason: str = "",
) -> Household:
    """Change a household's details; every field change is audited before and after.

    Members are added (``members_add``: name, ID number and relation, checked as at
    registration: one person, one household) or removed (``members_remove``: person ids of
    this household, never the head, and only with a ``reason``, which the audit entry
    keeps with the member's name, relation and masked ID).

    A new bank card must be in the head's name (``bank_card_holder``, as for
    ``household_create``: left out, the caller states that it is the head's) and starts the
    program's payment hold (``bank_card_changed_at``); a card also registered to another
    household is recorded as a red flag. Bad input changes nothing."""
    area_code = (
        Household.objects.filter(pk=household_id).values_list("area_code", flat=True).first()
    )
    if area_code is not None and not (
        getattr(actor, "is_superuser", False) or has_role_in(actor, Role.VILLAGE_CADRE, area_code)
    ):
        audit_refusal(
            actor=actor,
            action="household.update",
            object_type="household",
            object_id=household_id,
            area_code=area_code,
            reason="no village cadre role in this village",
        )
        raise NotFound(_("No such household in your area."))
    with transaction.atomic():
        household = (
            households_visible_to(actor)
            .select_for_update(no_key=True)
            .filter(pk=household_id)
            .first()
        )
        if household is None or not (
            getattr(actor, "is_superuser", False)
            or has_role_in(actor, Role.VILLAGE_CADRE, household.area_code)
        ):
            raise NotFound(_("No such household in your area."))
        before = household_snapshot(household)
        errors: dict[str, list[str]] = {}
        if phone is not None:
            household.phone = phone.strip()
            try:
                household.clean_fields(
                    exclude=[f.name for f in Household._meta.fields if f.name != "phone"]
                )
            except ValidationError:
                errors["phone"] = [_("Enter a valid mobile or landline number.")]
        card_hash = household.bank_card_hash
        if bank_card is not None:
            try:
                card = idnumbers.validate_bank_card(bank_card)
                new_hash = idnumbers.lookup_hash(card)
                if new_hash != household.bank_card_hash:
                    household.bank_card_cipher = idnumbers.encrypt(card)
                    household.bank_card_hash = new_hash
                    household.bank_card_masked = idnumbers.mask_bank_card(card)
                    household.bank_card_changed_at = clock.now()
            except ValidationError as exc:
                errors["bank_card"] = [str(m) for m in exc.messages]
        if bank_card is not None or bank_card_holder is not None:
            holder = household.head_name if bank_card_holder is None else bank_card_holder.strip()
            holder_errors = _holder_errors(holder, household.head_name)
            if holder_errors:
                errors["bank_card_holder"] = holder_errors
            household.bank_card_holder = holder
        if household_type is not None:
            if household_type not in Household.Kind.values:
                errors["household_type"] = [_("Choose a household type from the list.")]
            household.household_type = household_type
        if poverty_causes is not None:
            causes = list(dict.fromkeys(poverty_causes))
            if not causes or any(c not in Household.Cause.values for c in causes):
                errors["poverty_causes"] = [
                    _("Choose at least one cause of poverty from the list.")
                ]
            household.poverty_causes = causes
        added, removed = _member_changes(
            household, list(members_add), list(members_remove), reason, errors
        )
        if errors:
            raise InvalidInput(errors)
        household.save()
        if removed:
            Person.objects.filter(pk__in=[p.pk for p in removed]).delete()
        if added:
            try:
                with transaction.atomic():
                    Person.objects.bulk_create(added)
            except IntegrityError:  # registered in another household a moment ago
                raise InvalidInput({"members": [_DUPLICATE_PERSON]}) from None
            # A new member may be an official or a relative one declared: the household's
            # open applications are flagged now, as at filing.
            kin_flags_detect(
                actor=actor,
                application_ids=Application.objects.filter(household=household)
                .exclude(status__in=Application.CLOSED)
                .values_list("pk", flat=True),
            )
        changes = model_changes(before, household_snapshot(household))
        if changes:
            audit_record(
                actor=actor,
                action="household.update",
                object_type="household",
                object_id=household.pk,
                area_code=household.area_code,
                changes=changes,
                reason=reason.strip(),
            )
        if household.bank_card_hash != card_hash:
            _shared_card_record(actor=actor, household=household)
    return household


def household_status_change(
    *, actor: Actor, household_id: int, status: str, application: Application
) -> Household:
    """The household's new status from today, as the county's approval of an exit
    (``exited``) or a return to poverty (``returned``) makes it: the only way a status
    changes (``applications.chains``, ``EXIT`` and ``RETURN``). In the approval's
    transaction, under the household's row lock, from a status the change may leave
    (``Refused`` otherwise, rolling the approval back); recorded on the proposal
    (``StatusChange.effective_on``) and audited (``household.status``, from and to)."""
    if status not in Household.Status.values:
        raise ValueError(f"unknown household status {status}")
    household = Household.objects.select_for_update(no_key=True).get(pk=household_id)
    before = household.status
    # Under the household's lock: of two approvals at once (two proposals of one kind), the
    # second finds the status changed and is refused with its whole step.
    leaves: dict[str, tuple[str, ...]] = {
        Household.Status.EXITED: (Household.Status.REGISTERED, Household.Status.RETURNED),
        Household.Status.RETURNED: (Household.Status.EXITED,),
    }
    allowed = leaves.get(status, ())
    if before not in allowed:
        raise Refused(
            _("The household's status changed meanwhile: it is %(status)s now.")
            % {"status": household.get_status_display()},
            code=Code.HOUSEHOLD_INELIGIBLE,
        )
    today = clock.today()
    household.status = status
    household.status_since = today
    household.save(update_fields=["status", "status_since"])
    StatusChange.objects.filter(application=application).update(effective_on=today)
    audit_record(
        actor=actor,
        action="household.status",
        object_type="household",
        object_id=household.pk,
        area_code=household.area_code,
        from_state=before,
        to_state=status,
        changes={
            "status_since": [None, today.isoformat()],
            "application": [None, application.pk],
        },
    )
    return household


_DUPLICATE_PERSON = _(
    "This ID number is already registered in a household. One person belongs to one "
    "household; contact the township if the registry is wrong."
)


def _member_changes(
    household: Household,
    add: list[Mapping[str, str]],
    remove: list[int],
    reason: str,
    errors: dict[str, list[str]],
) -> tuple[list[Person], list[Person]]:
    """The members to add and to remove, checked; problems go into ``errors`` (keyed
    ``members_add[i].<field>`` and ``members_remove``)."""
    if not add and not remove:
        return [], []
    current = list(household.members.all())
    by_pk = {p.pk: p for p in current}
    removed = []
    for pk in dict.fromkeys(remove):
        person = by_pk.get(pk)
        if person is None or person.relation == Person.Relation.HEAD:
            errors["members_remove"] = [_("Choose members of this household other than the head.")]
            break
        removed.append(person)
    if removed and not reason.strip():
        errors["reason"] = [_("Say why the members are removed.")]
    rows = _member_rows(add, "members_add", errors)
    if len(current) - len(removed) + len(add) > MAX_MEMBERS:
        errors["members"] = [_("A household has at most 30 members.")]
    hashes = [idnumbers.lookup_hash(number) for _n, number, _r in rows]
    if len(set(hashes)) != len(hashes):
        errors["members"] = [_("The same ID number appears twice in this household.")]
    elif (
        hashes
        # A member removed in the same change may come back (a name or relation corrected).
        and Person.objects.filter(id_hash__in=hashes)
        .exclude(pk__in=[p.pk for p in removed])
        .exists()
    ):
        errors["members"] = [_DUPLICATE_PERSON]
    return _people(household, rows, hashes), removed


def _people(
    household: Household, rows: list[tuple[str, str, str]], hashes: list[str]
) -> list[Person]:
    """Members besides the head, as rows to create: the number encrypted, hashed, masked."""
    return [
        Person(
            household=household,
            name=name,
            relation=relation,
            id_cipher=idnumbers.encrypt(number),
            id_hash=digest,
            id_masked=idnumbers.mask_id_number(number),
        )
        for (name, number, relation), digest in zip(rows, hashes, strict=True)
    ]


def person_reveal_id(*, actor: Actor, person_id: int) -> str:
    """The full ID number, for a user holding the reveal permission on the area; the reveal
    is on the record (and so is a refused attempt)."""
    person = (
        Person.objects.select_related("household")
        .filter(pk=person_id, household__in=households_visible_to(actor))
        .first()
    )
    if person is None:
        hidden = (
            Person.objects.filter(pk=person_id)
            .values_list("household__area_code", flat=True)
            .first()
        )
        if hidden is not None:  # it exists, outside the actor's area
            audit_refusal(
                actor=actor,
                action="person.reveal_id",
                object_type="person",
                object_id=person_id,
                area_code=hidden,
                reason="out of scope",
            )
        raise NotFound(_("No such person in your area."))
    area_code = person.household.area_code
    if not can_reveal_id(actor, area_code):
        audit_refusal(
            actor=actor,
            action="person.reveal_id",
            object_type="person",
            object_id=person.pk,
            area_code=area_code,
            reason="no reveal permission",
        )
        raise Forbidden(_("You may not see full ID numbers in this area."))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="person.reveal_id",
            object_type="person",
            object_id=person.pk,
            area_code=area_code,
        )
    return idnumbers.decrypt(person.id_cipher)


# --- programs ----------------------------------------------------------------------------


def program_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    kind: str,
    county_code: str,
    budget: Decimal,
    effective_from: date,
    policy_reference: str,
    household_cap: Decimal,
    posting_days: int = 7,
    items: Iterable[Mapping[str, Any]] = (),
    loan_max_amount: Decimal | None = None,
    loan_max_months: int | None = None,
    card_change_hold_days: int = 30,
    acceptance_required: bool = False,
    acceptance_sample_percent: int = 20,
    announcement_days: int = 10,
    exited_eligible: bool = False,
    monitoring_days: int = 15,
    income_line: Decimal | None = None,
) -> Program:
    """Create a program with its first parameter version and items."""
    county = Area.objects.filter(code=county_code, level=Area.Level.COUNTY).first()
    if county is None:
        raise InvalidInput({"area": [_("Choose a county by its 12-digit area code.")]})
    with transaction.atomic():
        program = Program(code=code, name=name, kind=kind, area=county, budget=budget)
        try:
            program.full_clean()
        except ValidationError as exc:
            raise InvalidInput(exc) from None
        program.save()
        audit_record(
            actor=actor,
            action="program.create",
            object_type="program",
            object_id=program.pk,
            area_code=county.code,
            changes=model_changes(
                None, {"code": code, "name": name, "kind": kind, "budget": budget}
            ),
        )
        program_version_add(
            actor=actor,
            program=program,
            effective_from=effective_from,
            policy_reference=policy_reference,
            household_cap=household_cap,
            posting_days=posting_days,
            items=items,
            loan_max_amount=loan_max_amount,
            loan_max_months=loan_max_months,
            card_change_hold_days=card_change_hold_days,
            acceptance_required=acceptance_required,
            acceptance_sample_percent=acceptance_sample_percent,
            announcement_days=announcement_days,
            exited_eligible=exited_eligible,
            monitoring_days=monitoring_days,
            income_line=income_line,
        )
    return program


def program_version_add(
    *,
    actor: Actor,
    program: Program,
    effective_from: date,
    policy_reference: str,
    household_cap: Decimal,
    posting_days: int = 7,
    items: Iterable[Mapping[str, Any]] = (),
    loan_max_amount: Decimal | None = None,
    loan_max_months: int | None = None,
    card_change_hold_days: int = 30,
    acceptance_required: bool = False,
    acceptance_sample_percent: int = 20,
    announcement_days: int = 10,
    exited_eligible: bool = False,
    monitoring_days: int = 15,
    income_line: Decimal | None = None,
) -> ProgramVersion:
    """New effective-dated parameters. Past versions stay as they were: applications
    decided under them keep pointing at them."""
    if program.kind == Program.Kind.LOAN:
        if loan_max_amount is None or loan_max_amount > Decimal("50000"):
            raise InvalidInput(
                {"loan_max_amount": [_("A poverty microloan is at most 50,000 yuan.")]}
            )
        if loan_max_months is None or loan_max_months > 36:
            raise InvalidInput(
                {"loan_max_months": [_("A poverty microloan runs at most 36 months.")]}
            )
    with transaction.atomic():
        version = ProgramVersion(
            program=program,
            effective_from=effective_from,
            policy_reference=policy_reference,
            household_cap=household_cap,
            posting_days=posting_days,
            loan_max_amount=loan_max_amount,
            loan_max_months=loan_max_months,
            card_change_hold_days=card_change_hold_days,
            acceptance_required=acceptance_required,
            acceptance_sample_percent=acceptance_sample_percent,
            announcement_days=announcement_days,
            exited_eligible=exited_eligible,
            monitoring_days=monitoring_days,
            income_line=income_line,
        )
        try:
            version.full_clean()
        except ValidationError as exc:
            raise InvalidInput(exc) from None
        version.save()
        item_rows = []
        for raw in items:
            item = ProgramItem(version=version, **raw)
            try:
                item.full_clean()
            except ValidationError as exc:
                raise InvalidInput(exc) from None
            item_rows.append(item)
        ProgramItem.objects.bulk_create(item_rows)
        audit_record(
            actor=actor,
            action="program.version_add",
            object_type="program",
            object_id=program.pk,
            area_code=program.area_id,
            changes=model_changes(
                None,
                {
                    "effective_from": effective_from,
                    "policy_reference": policy_reference,
                    "household_cap": household_cap,
                    "posting_days": posting_days,
                    "loan_max_amount": loan_max_amount,
                    "loan_max_months": loan_max_months,
                    "card_change_hold_days": card_change_hold_days,
                    "announcement_days": announcement_days,
                    **(
                        {
                            "acceptance_required": acceptance_required,
                            "acceptance_sample_percent": acceptance_sample_percent,
                        }
                        if acceptance_required
                        else {}
                    ),
                    **({"exited_eligible": True} if exited_eligible else {}),
                    **(
                        {"monitoring_days": monitoring_days, "income_line": income_line}
                        if program.kind in (Program.Kind.EXIT, Program.Kind.RETURN)
                        else {}
                    ),
                    "items": [f"{i.code}:{i.unit_amount}/{i.unit}" for i in item_rows],
                },
            ),
        )
    return version


def program_version_current(program: Program, on: date | None = None) -> ProgramVersion:
    on = on or clock.today()
    version = program.versions.filter(effective_from__lte=on).order_by("-effective_from").first()
    if version is None:
        raise InvalidInput({"program": [_("The program has no parameters in force today.")]})
    return version


# --- roles -------------------------------------------------------------------------------


def bank_create(*, actor: Actor, code: str, name: str) -> Bank:
    """A bank that lends microloans (its code as the ``--bank`` of a bank officer's grant).
    Audited; a code already taken is refused."""
    bank = Bank(code=(code or "").strip(), name=(name or "").strip())
    try:
        bank.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc) from None
    with transaction.atomic():
        bank.save()
        audit_record(
            actor=actor,
            action="bank.create",
            object_type="bank",
            object_id=bank.code,
            changes={"code": [None, bank.code], "name": [None, bank.name]},
        )
    return bank


def role_grant(
    *,
    actor: Actor,
    username: str,
    role: str,
    area_code: str,
    password: str | None = None,
    bank_code: str = "",
) -> tuple[Any, bool]:
    """Create the user if needed and grant the role on the area. Returns (user, granted):
    granted is False when the user already held it. Audited. A bank officer is granted on a
    county for one bank (``bank_code``, required for that role only)."""
    if role not in ROLE_PERMISSION and role != REVEAL_PERMISSION:
        raise InvalidInput({"role": [_("Unknown role: %(role)s") % {"role": role}]})
    bank = None
    if role == Role.BANK_OFFICER:
        bank = Bank.objects.filter(code=bank_code).first()
        if bank is None:
            raise InvalidInput(
                {"bank": [_("A bank officer is granted for a bank: give its code.")]}
            )
    elif bank_code:
        raise InvalidInput({"bank": [_("Only a bank officer is granted for a bank.")]})
    area = Area.objects.filter(code=area_code).first()
    if area is None:
        raise InvalidInput({"area": [_("No area has the code %(code)s.") % {"code": area_code}]})
    wanted_level = ROLE_LEVEL.get(role)
    if wanted_level is not None and area.level != wanted_level:
        raise InvalidInput(
            {
                "area": [
                    _("This role is granted on a %(level)s.")
                    % {"level": Area.Level(wanted_level).label}
                ]
            }
        )
    User = get_user_model()
    if password is not None:
        # The same rules as the admin's form and the password change page (length, common
        # passwords, all digits, too like the username).
        existing = User.objects.filter(username=username).first()
        try:
            validate_password(password, existing or User(username=username))
        except ValidationError as exc:
            raise InvalidInput({"password": [str(m) for m in exc.messages]}) from None
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        if created or password:
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        if created:
            audit_record(
                actor=actor,
                action="user.create",
                object_type="user",
                object_id=user.pk,
                area_code=area.code,
                changes={"username": [None, username]},
            )
        codename = ROLE_PERMISSION.get(role, role)
        granted = permission_grant(user, codename, area)
        if bank is not None:
            posted = BankOfficer.objects.get_or_create(user=user, bank=bank, county=area)[1]
            granted = granted or posted
        if granted:
            audit_record(
                actor=actor,
                action="role.grant",
                object_type="user",
                object_id=user.pk,
                area_code=area.code,
                changes={
                    "role": [None, role],
                    "area": [None, area.code],
                    "user": [None, username],
                    **({"bank": [None, bank.code]} if bank is not None else {}),
                },
            )
            if role in ACTING_ROLES:
                # Open applications of the new area whose household the official declared.
                kin_flags_detect(
                    actor=actor,
                    application_ids=Application.objects.filter(
                        area_code__startswith=area.prefix,
                        household__members__id_hash__in=KinDeclaration.objects.filter(
                            official=user,
                            relation__in=KinDeclaration.RECUSING,
                            superseded_at__isnull=True,
                        ).values("id_hash"),
                    )
                    .exclude(status__in=Application.CLOSED)
                    .values_list("pk", flat=True),
                )
    return user, granted


# --- conflict of interest (DOMAIN rule 4) ----------------------------------------------------


def kin_declare(
    *, actor: Actor, official_id: int, relation: str, name: str, id_number: str
) -> KinDeclaration:
    """Record an official's own ID number (``relation="self"``) or a relative's (亲属备案).

    Guarantees: only the official, an admin or the system (``actor=None``: the command)
    declares (else ``Forbidden``, recorded); the official holds a role; the number is valid
    and stored only encrypted (a keyed hash to match household members, masked to show);
    one person once per official, one own number per official and per person (among the
    declarations in force); audited in each county where the official holds a role; the
    open applications of the official's areas whose household includes a recusing
    declaration are flagged at once, in the same transaction. Bad input changes nothing.
    """
    official, counties = _kin_official(actor, official_id, "kin.declare")
    name, number, digest = _kin_checked(official, relation, name, id_number)
    try:
        with transaction.atomic():
            declaration = _kin_create(
                actor, official, counties, relation, name, number, digest, "kin.declare"
            )
    except IntegrityError:  # declared at the same moment by a second request
        raise InvalidInput({"id_number": [_("You have already declared this person.")]}) from None
    return declaration


def kin_correct(
    *,
    actor: Actor,
    declaration_id: int,
    relation: str,
    name: str,
    id_number: str,
    reason: str,
) -> KinDeclaration:
    """Correct a wrong declaration by a new one that supersedes it (its relation, name or
    number), with a reason. The wrong one is never changed nor removed: it is marked once
    as superseded, and the flags it raised stay. The new one is checked and flags as a
    declaration does. Only the official (or an admin) corrects, and only a declaration in
    force; audited (``kin.correct``: both versions, masked, and the reason)."""
    old = KinDeclaration.objects.filter(pk=declaration_id).select_related("official").first()
    if old is None:
        raise NotFound(_("No such declaration."))
    official, counties = _kin_official(actor, old.official_id, "kin.correct")
    if not (reason or "").strip():
        raise InvalidInput({"reason": [_("Say why the declaration is corrected.")]})
    name, number, digest = _kin_checked(official, relation, name, id_number, replacing=old)
    try:
        with transaction.atomic():
            marked = KinDeclaration.objects.filter(pk=old.pk, superseded_at__isnull=True).update(
                superseded_at=clock.now()
            )
            if not marked:
                raise Refused(
                    _("This declaration was already corrected."), code=Code.ALREADY_CORRECTED
                )
            declaration = _kin_create(
                actor,
                official,
                counties,
                relation,
                name,
                number,
                digest,
                "kin.correct",
                supersedes=old,
                reason=reason.strip(),
            )
    except IntegrityError:
        raise InvalidInput({"id_number": [_("You have already declared this person.")]}) from None
    return declaration


def _kin_official(actor: Actor, official_id: int, action: str) -> tuple[Any, list[str]]:
    """The official declaring (or correcting) and the counties of their roles; refused,
    and recorded, when the actor is someone else."""
    User = get_user_model()
    official = User.objects.filter(pk=official_id, is_active=True).first()
    if official is None:
        raise NotFound(_("No such official."), field="official")
    counties = sorted({g.area_code[:6] + "000000" for g in grants_of(official)})
    is_admin = getattr(actor, "is_superuser", False)
    if actor is not None and not is_admin and actor.pk != official.pk:
        for county in counties or [""]:
            audit_refusal(
                actor=actor,
                action=action,
                object_type="user",
                object_id=official.pk,
                area_code=county,
                reason="declares only for themselves",
            )
        raise Forbidden(_("Officials declare their own relatives."), code=Code.NOT_SELF)
    if not counties:
        raise InvalidInput({"official": [_("Only an official holding a role declares relatives.")]})
    return official, counties


def _kin_checked(
    official: Any,
    relation: str,
    name: str,
    id_number: str,
    *,
    replacing: KinDeclaration | None = None,
) -> tuple[str, str, str]:
    """The declaration's name, number and hash, checked against the official's declarations
    in force (but the one it replaces)."""
    errors: dict[str, list[str]] = {}
    if relation not in KinDeclaration.Relation.values:
        errors["relation"] = [_("Choose the relation from the list.")]
    try:
        name, number = _clean_person(name, id_number, "")
    except InvalidInput as exc:
        errors.update(exc.errors)
        number = ""
    if errors:
        raise InvalidInput(errors)
    digest = idnumbers.lookup_hash(number)
    in_force = KinDeclaration.objects.filter(superseded_at__isnull=True)
    if replacing is not None:
        if (replacing.relation, replacing.name, replacing.id_hash) == (relation, name, digest):
            raise InvalidInput({"detail": [_("The correction changes nothing.")]})
        in_force = in_force.exclude(pk=replacing.pk)
    mine = in_force.filter(official=official)
    if mine.filter(id_hash=digest).exists():
        raise InvalidInput({"id_number": [_("You have already declared this person.")]})
    if relation == KinDeclaration.Relation.SELF:
        if mine.filter(relation=KinDeclaration.Relation.SELF).exists():
            raise InvalidInput({"relation": [_("Your own ID number is already declared.")]})
        if in_force.filter(id_hash=digest, relation=KinDeclaration.Relation.SELF).exists():
            raise InvalidInput(
                {"id_number": [_("This ID number is declared as another official's own.")]}
            )
    return name, number, digest


def _kin_create(
    actor: Actor,
    official: Any,
    counties: list[str],
    relation: str,
    name: str,
    number: str,
    digest: str,
    action: str,
    *,
    supersedes: KinDeclaration | None = None,
    reason: str = "",
) -> KinDeclaration:
    """Write the declaration, its audit entries (one per county) and the flags it raises,
    in the caller's transaction."""
    declaration = KinDeclaration.objects.create(
        official=official,
        relation=relation,
        name=name,
        id_cipher=idnumbers.encrypt(number),
        id_hash=digest,
        id_masked=idnumbers.mask_id_number(number),
        created_by=person_or_none(actor),
        supersedes=supersedes,
        correction_reason=reason,
    )
    before: dict[str, Any] = (
        {"relation": supersedes.relation, "name": supersedes.name, "id": supersedes.id_masked}
        if supersedes is not None
        else {}
    )
    for county in counties:
        audit_record(
            actor=actor,
            action=action,
            object_type="user",
            object_id=official.pk,
            area_code=county,
            reason=reason,
            changes={
                "official": [None, official.get_username()],
                "relation": [before.get("relation"), relation],
                "name": [before.get("name"), name],
                "id": [before.get("id"), declaration.id_masked],
                **({"corrects": [None, supersedes.pk]} if supersedes is not None else {}),
            },
        )
    if relation in KinDeclaration.RECUSING:
        kin_flags_detect(
            actor=actor,
            application_ids=Application.objects.filter(household__members__id_hash=digest)
            .exclude(status__in=Application.CLOSED)
            .values_list("pk", flat=True),
        )
    return declaration


def kin_flags_detect(*, actor: Actor, application_ids: Iterable[int]) -> list[KinFlag]:
    """Flag (备案) each open application among these whose household includes an official
    acting in its area, or a close relative that official declared.

    Guarantees: each application and official is flagged once: the flag and its audit
    entry (``application.kin_flag``: the official, the relation, the member's masked ID)
    are written the first time, in the caller's transaction; later detections change
    nothing. Returns the new flags."""
    new: list[KinFlag] = []
    for match in kin_matches(application_ids):
        flag, created = KinFlag.objects.get_or_create(
            application_id=match.application_id,
            official_id=match.official_id,
            defaults={"declaration_id": match.declaration_id},
        )
        if not created:
            continue
        audit_record(
            actor=actor,
            action="application.kin_flag",
            object_type="application",
            object_id=match.application_id,
            area_code=match.area_code,
            changes={
                "official": [None, match.official_name],
                "relation": [None, match.relation],
                "member": [None, match.member_masked],
            },
        )
        new.append(flag)
    return new
