"""The registry as a sheet (建档立卡台账): the template's layout, one row per person with the
household's columns on its head's row, the way counties exchange it with the national
system; a sheet read into households with every problem by row and column; and the
registry written back out in the same layout.

The headers and the values (relations, household types, causes) are the Chinese ones the
national system uses, whatever the language of the person who reads the messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from applications import idnumbers
from applications.models import Household, Person
from common.sheets import (
    CONTROL_CHARACTERS,
    Cell,
    Formula,
    RowProblem,
    cell_digits_lost,
    cell_text,
    cell_unquoted,
    digits_lost_message,
    header_key,
    template_file,
)

HOUSEHOLD_NO = "户编号"
VILLAGE = "村代码"
NAME = "姓名"
ID_NUMBER = "身份证号"
RELATION = "与户主关系"
TYPE = "贫困户属性"
CAUSES = "致贫原因"
CARD = "银行卡号"
HOLDER = "开户名"
PHONE = "联系电话"

HEADERS = (HOUSEHOLD_NO, VILLAGE, NAME, ID_NUMBER, RELATION, TYPE, CAUSES, CARD, HOLDER, PHONE)
# Read from the head's row only.
HOUSEHOLD_COLUMNS = (TYPE, CAUSES, CARD, HOLDER, PHONE)
# Numbers a spreadsheet would otherwise turn into 6.20902E+17: kept as text.
TEXT_COLUMNS = (HOUSEHOLD_NO, VILLAGE, ID_NUMBER, CARD, PHONE)
# Longer than the 15 digits a spreadsheet's number keeps.
_LONG_NUMBERS = (ID_NUMBER, CARD)

R = Person.Relation
RELATIONS: dict[str, str] = {
    "户主": R.HEAD,
    "配偶": R.SPOUSE,
    "子女": R.CHILD,
    "父母": R.PARENT,
    "兄弟姐妹": R.SIBLING,
    "祖父母/外祖父母": R.GRANDPARENT,
    "孙子女/外孙子女": R.GRANDCHILD,
    "其他": R.OTHER,
}
TYPES: dict[str, str] = {
    "一般贫困户": Household.Kind.GENERAL,
    "低保贫困户": Household.Kind.SUBSISTENCE,
    "特困供养贫困户": Household.Kind.EXTREME,
}
C = Household.Cause
CAUSE_NAMES: dict[str, str] = {
    "因病": C.ILLNESS,
    "因残": C.DISABILITY,
    "因学": C.SCHOOLING,
    "因灾": C.DISASTER,
    "缺土地": C.LAND,
    "缺水": C.WATER,
    "缺技术": C.SKILLS,
    "缺劳力": C.LABOUR,
    "缺资金": C.CAPITAL,
    "交通落后": C.TRANSPORT,
    "自身发展动力不足": C.MOTIVATION,
}
RELATION_NAME = {v: k for k, v in RELATIONS.items()}
TYPE_NAME = {v: k for k, v in TYPES.items()}
CAUSE_NAME = {v: k for k, v in CAUSE_NAMES.items()}

# What is read besides the names above: each half of a paired relation, and the stored
# values (a sheet exported by another tool of ours).
_RELATION_READ = {
    **RELATIONS,
    "祖父母": R.GRANDPARENT,
    "外祖父母": R.GRANDPARENT,
    "孙子女": R.GRANDCHILD,
    "外孙子女": R.GRANDCHILD,
    **{v: v for v in R.values},
}
_TYPE_READ = {**TYPES, **{v: v for v in Household.Kind.values}}
_CAUSE_READ = {**CAUSE_NAMES, **{v: v for v in C.values}}
_CAUSE_SPLIT = re.compile(r"[、,，;；/\s]+")
_VILLAGE_CODE = re.compile(r"^\d{12}$")
_PHONE = re.compile(r"^1\d{10}$|^0\d{9,11}$")
MAX_MEMBERS = 30
MAX_KEY = 40


@dataclass(slots=True)
class PersonRow:
    row: int
    name: str
    number: str
    relation: str


@dataclass(slots=True)
class HouseholdDraft:
    """A household as the sheet gives it; the household's columns come from its head's
    row (``row``)."""

    key: str
    first_row: int
    row: int = 0
    village: str = ""
    household_type: str = ""
    causes: list[str] = field(default_factory=list)
    card: str = ""
    holder: str = ""
    phone: str = ""
    head: PersonRow | None = None
    members: list[PersonRow] = field(default_factory=list)
    # Villages written on the members' rows, by the first row that wrote each.
    villages_seen: dict[str, int] = field(default_factory=dict)

    @property
    def people(self) -> list[PersonRow]:
        return ([self.head] if self.head else []) + self.members


class Problems:
    """The problems found, in the order found: the first ``keep`` of them, and how many."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.count = 0
        self.kept: list[RowProblem] = []

    def add(self, row: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.kept) < self.keep:
            self.kept.append(RowProblem(row, column, message))


@dataclass
class SheetRead:
    households: dict[str, HouseholdDraft]
    problems: Problems
    rows: int = 0
    persons: int = 0
    # The header is unusable: nothing else was read.
    fatal: bool = False
    # Each ID number's keyed hash, once computed.
    digests: dict[str, str] = field(default_factory=dict)


def _missing_header(problems: Problems, row: int, missing: list[str]) -> None:
    for header in missing:
        problems.add(
            row,
            header,
            _("The column %(column)s is missing. The template's columns are: %(columns)s.")
            % {"column": header, "columns": "、".join(HEADERS)},
        )


def registry_sheet_read(
    rows: Iterator[tuple[int, list[Cell]]],
    *,
    keep: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> SheetRead:
    """Read the rows of a registry sheet (``common.sheets.sheet_rows``) into households.

    Every problem is reported (its row, its column's header, a message in the user's
    language), never guessed around: a formula (``="…"``, a long number kept as text, is
    read as that text), control characters, a missing or malformed value, an ID number
    that fails its check, a person twice in the sheet, an unknown relation, type or cause,
    a household with no head or two, more than 30 people, a card not in the head's name,
    a member's row naming another village than its head's. Blank rows are skipped.
    ``progress`` is told the rows read every 10,000 rows."""
    problems = Problems(keep)
    households: dict[str, HouseholdDraft] = {}
    read = SheetRead(households, problems)
    positions: dict[str, int] | None = None
    for number, cells in rows:
        if not cells:
            continue
        found: dict[str, int] = {}
        for index, cell in enumerate(cells):
            found.setdefault(header_key(cell), index)
        positions = {h: found[h] for h in HEADERS if h in found}
        missing = [h for h in HEADERS if h not in positions]
        if missing:
            _missing_header(problems, number, missing)
            read.fatal = True
            return read
        break
    if positions is None:
        problems.add(1, HOUSEHOLD_NO, _("The file has no rows."))
        read.fatal = True
        return read

    seen: dict[str, int] = {}  # ID number -> the first row it is on
    add = problems.add
    order = [(h, positions[h]) for h in HEADERS]
    for number, cells in rows:
        if not any(c is not None and c != "" for c in cells):
            continue
        read.rows += 1
        if progress is not None and read.rows % 10_000 == 0:
            progress(read.rows)
        size = len(cells)
        values: dict[str, str] = {}
        lost: set[str] = set()
        for header, index in order:
            cell = cell_unquoted(cells[index]) if index < size else None
            if isinstance(cell, Formula):
                add(number, header, _("The cell holds a formula; write the value itself."))
                values[header] = cell.text
                continue
            if header in _LONG_NUMBERS and cell_digits_lost(cell):
                add(number, header, digits_lost_message())
                values[header] = ""
                lost.add(header)
                continue
            text = cell_text(cell)
            if CONTROL_CHARACTERS.search(text):
                add(number, header, _("The cell holds control characters; write plain text."))
            values[header] = text
        key = values[HOUSEHOLD_NO]
        if not key:
            add(number, HOUSEHOLD_NO, _("Give the household's number within the file."))
            continue
        if len(key) > MAX_KEY:
            add(number, HOUSEHOLD_NO, _("A household's number has at most 40 characters."))
            continue
        draft = households.get(key)
        if draft is None:
            draft = households[key] = HouseholdDraft(key=key, first_row=number)
        name = idnumbers.normalize_person_name(values[NAME])
        if not name:
            add(number, NAME, _("A name is required."))
        elif len(name) > 50:
            add(number, NAME, _("A name has at most 50 characters."))
        id_number = ""
        try:
            if ID_NUMBER not in lost:
                id_number = idnumbers.validate_id_number(values[ID_NUMBER])
        except ValidationError as error:
            add(number, ID_NUMBER, " ".join(str(m) for m in error.messages))
        if id_number:
            first = seen.setdefault(id_number, number)
            if first != number:
                add(
                    number,
                    ID_NUMBER,
                    _("This ID number is also on row %(row)s: one person, one row.")
                    % {"row": first},
                )
        relation = _RELATION_READ.get(values[RELATION].replace(" ", ""))
        if relation is None:
            add(
                number,
                RELATION,
                _("Unknown relation “%(value)s”: write one of %(choices)s.")
                % {"value": values[RELATION], "choices": "、".join(RELATIONS)},
            )
        person = PersonRow(number, name, id_number, relation or "")
        village = values[VILLAGE]
        if relation == R.HEAD:
            if draft.head is not None:
                add(
                    number,
                    RELATION,
                    _("Household %(key)s already has its head on row %(row)s.")
                    % {"key": key, "row": draft.head.row},
                )
                continue
            draft.head = person
            draft.row = number
            _head_columns(draft, number, values, add, card_lost=CARD in lost)
        else:
            draft.members.append(person)
            if village:
                draft.villages_seen.setdefault(village, number)
        read.persons += 1
    for draft in households.values():
        _household_checks(draft, add)
    return read


def _head_columns(
    draft: HouseholdDraft,
    number: int,
    values: dict[str, str],
    add: Callable[[int, str, str], None],
    *,
    card_lost: bool,
) -> None:
    village = values[VILLAGE]
    if not _VILLAGE_CODE.match(village):
        add(number, VILLAGE, _("A village's code has 12 digits."))
    draft.village = village
    kind = _TYPE_READ.get(values[TYPE].replace(" ", ""))
    if kind is None:
        add(
            number,
            TYPE,
            _("Unknown household type “%(value)s”: write one of %(choices)s.")
            % {"value": values[TYPE], "choices": "、".join(TYPES)},
        )
    draft.household_type = kind or ""
    causes: list[str] = []
    for part in _CAUSE_SPLIT.split(values[CAUSES]):
        if not part:
            continue
        cause = _CAUSE_READ.get(part)
        if cause is None:
            add(
                number,
                CAUSES,
                _("Unknown cause of poverty “%(value)s”: write one or more of %(choices)s.")
                % {"value": part, "choices": "、".join(CAUSE_NAMES)},
            )
        elif cause not in causes:
            causes.append(cause)
    if not values[CAUSES]:
        add(number, CAUSES, _("Give at least one cause of poverty."))
    draft.causes = causes
    try:
        if not card_lost:
            draft.card = idnumbers.validate_bank_card(values[CARD])
    except ValidationError as error:
        add(number, CARD, " ".join(str(m) for m in error.messages))
    draft.holder = values[HOLDER]
    phone = values[PHONE].replace(" ", "").replace("-", "")
    if not _PHONE.match(phone):
        add(number, PHONE, _("Enter a valid mobile or landline number."))
    draft.phone = phone


def _household_checks(draft: HouseholdDraft, add: Callable[[int, str, str], None]) -> None:
    head = draft.head
    if head is None:
        add(
            draft.first_row,
            RELATION,
            _("Household %(key)s has no row whose relation is 户主 (the head).")
            % {"key": draft.key},
        )
        return
    if len(draft.members) + 1 > MAX_MEMBERS:
        add(
            draft.members[MAX_MEMBERS - 1].row,
            HOUSEHOLD_NO,
            _("A household has at most 30 members."),
        )
    if head.name:
        if not draft.holder:
            add(draft.row, HOLDER, _("Enter the name on the bank card."))
        elif not idnumbers.card_holder_matches(draft.holder, head.name):
            add(
                draft.row,
                HOLDER,
                _(
                    "Subsidies are paid only to a bank card in the head of household's name: "
                    "this card is in the name of %(holder)s, the head is %(head)s."
                )
                % {"holder": draft.holder, "head": head.name},
            )
    for village, row in draft.villages_seen.items():
        if village != draft.village:
            add(
                row,
                VILLAGE,
                _("This row's village is not its head's (%(village)s): one household, one village.")
                % {"village": draft.village},
            )


# --- out ------------------------------------------------------------------------------------


def registry_template() -> IO[bytes]:
    """The template to fill in: the headers, the number columns formatted as text, the
    relation and type columns as drop-down lists, and a second sheet that explains each
    column."""
    notes = [
        (HOUSEHOLD_NO, _("Any number that keeps a household's rows together within the file.")),
        (VILLAGE, _("The village's 12-digit statistical area code.")),
        (NAME, _("The person's name, as on the ID card.")),
        (ID_NUMBER, _("18 characters: 17 digits and a final digit or X.")),
        (RELATION, "、".join(RELATIONS)),
        (TYPE, _("On the head's row: %(choices)s.") % {"choices": "、".join(TYPES)}),
        (
            CAUSES,
            _("On the head's row, one or more separated by 、: %(choices)s.")
            % {"choices": "、".join(CAUSE_NAMES)},
        ),
        (CARD, _("On the head's row: the benefit card (一卡通), in the head's name.")),
        (HOLDER, _("On the head's row: the name on the card, which must be the head's.")),
        (PHONE, _("On the head's row: a mobile or landline number.")),
    ]
    return template_file(
        list(HEADERS),
        title=_("Registry"),
        text_columns=[HEADERS.index(h) for h in TEXT_COLUMNS],
        widths=[10, 14, 10, 22, 16, 16, 24, 22, 10, 14],
        choices={HEADERS.index(RELATION): list(RELATIONS), HEADERS.index(TYPE): list(TYPES)},
        notes_title=_("How to fill it in"),
        notes=notes,
    )


def registry_rows(
    households: QuerySet[Household], *, reveal: Callable[[str], bool], chunk: int = 2000
) -> Iterator[list[str]]:
    """The template's rows for these households, by village and then registration: each
    head's row first with the household's columns, then the others'. ID, card and phone
    numbers are masked unless ``reveal`` says otherwise for the household's area code.

    Read a chunk of households at a time, as plain values (a 100,000-household county is
    400,000 rows: model instances would cost most of the export's time and memory)."""
    from common.sheets import neutralise

    columns = (
        "pk",
        "area_code",
        "household_type",
        "poverty_causes",
        "bank_card_holder",
        "phone",
        "bank_card_masked",
        "bank_card_cipher",
    )
    qs = households.order_by("area_code", "pk")
    after: tuple[str, int] | None = None
    while True:
        page = qs
        if after is not None:
            page = qs.filter(Q(area_code__gt=after[0]) | Q(area_code=after[0], pk__gt=after[1]))
        rows = list(page.values_list(*columns)[:chunk])
        if not rows:
            return
        after = (rows[-1][1], rows[-1][0])
        people: dict[int, list[tuple[int, str, str, str, str]]] = {}
        for person in (
            Person.objects.filter(household_id__in=[r[0] for r in rows])
            .order_by()
            .values_list("household_id", "pk", "name", "relation", "id_masked", "id_cipher")
        ):
            people.setdefault(person[0], []).append(person[1:])
        for pk, area, kind, causes, holder, phone, card_masked, card_cipher in rows:
            full = reveal(area)
            key = str(pk)
            members = sorted(people.get(pk, ()), key=lambda p: (p[2] != R.HEAD, p[0]))
            for _pk, name, relation, masked, cipher in members:
                number = idnumbers.decrypt(cipher) if full else masked
                if relation == R.HEAD:
                    yield [
                        key,
                        area,
                        neutralise(name),
                        number,
                        RELATION_NAME[relation],
                        TYPE_NAME.get(kind, ""),
                        "、".join(CAUSE_NAME.get(c, c) for c in causes),
                        idnumbers.decrypt(card_cipher) if full else card_masked,
                        neutralise(holder),
                        phone if full else idnumbers.mask_phone(phone),
                    ]
                else:
                    yield [key, area, neutralise(name), number, RELATION_NAME.get(relation, "其他")]
