"""Importing the registry from a sheet: the report of every problem, all or nothing, the
background run, the confirmation of a dry run."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from applications import idnumbers
from applications.imports import (
    MAX_IMPORT_BYTES,
    household_import_confirm,
    household_import_run,
    household_import_start,
    household_imports_recover,
)
from applications.models import Household, HouseholdImport, Person
from applications.registry_sheet import HEADERS, registry_template
from audit.models import AuditEntry
from common import clock
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from common.sheets import sheet_rows
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_3,
    VILLAGE_B,
    World,
    bank_card_number,
    id_number,
    make_household,
    with_wrong_check_digit,
)

pytestmark = pytest.mark.usefixtures("media_root")

Row = list[Any]


def household_rows(
    key: str, village: str = VILLAGE_1, *, members: int = 2, head: str = "王建国"
) -> list[Row]:
    """A household's rows as the template has them: the head's with the household's
    columns, then its members'."""
    rows: list[Row] = [
        [
            key,
            village,
            head,
            id_number(village[:6]),
            "户主",
            "一般贫困户",
            "因病、缺资金",
            bank_card_number(),
            head,
            "13809370000",
        ]
    ]
    relations = ["配偶", "子女", "父母", "孙子女/外孙子女"]
    for i in range(members):
        rows.append([key, "", f"李{i}花", id_number(village[:6]), relations[i % 4]])
    return rows


def as_csv(
    rows: Sequence[Row], *, encoding: str = "utf-8", header: Sequence[str] = HEADERS
) -> io.BytesIO:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return io.BytesIO(out.getvalue().encode(encoding))


def as_xlsx(rows: Sequence[Row], header: Sequence[str] = HEADERS) -> io.BytesIO:
    book = openpyxl.Workbook()
    sheet: Any = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def start(
    world: World, user: str, file: io.BytesIO, *, dry_run: bool = True, name: str = "台账.csv"
) -> HouseholdImport:
    return household_import_start(
        actor=world.user(user), file=file, file_name=name, dry_run=dry_run
    )


def problems(job: HouseholdImport) -> list[tuple[int, str]]:
    return [(p["row"], p["column"]) for p in job.problems]


def test_dry_run_reports_counts_and_writes_nothing(world: World) -> None:
    rows = household_rows("1") + household_rows("2", VILLAGE_1, members=3)
    before = Household.objects.count()

    job = start(world, "cadre_v1", as_csv(rows))

    assert job.status == HouseholdImport.Status.DONE
    assert (job.rows_read, job.households_found, job.persons_found) == (7, 2, 7)
    assert job.problem_count == 0 and job.problems == []
    assert not job.applied and Household.objects.count() == before
    assert job.stored_name and default_storage.exists(job.stored_name)
    # Kept encrypted: the clear ID number is nowhere in the stored copy.
    assert rows[0][3].encode() not in default_storage.open(job.stored_name).read()


def test_confirmed_dry_run_registers_every_household_as_registration_does(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    rows = household_rows("1", members=2) + household_rows("2", VILLAGE_2, members=0, head="赵永福")
    dry = start(world, "reviewer_t1", as_csv(rows))

    with django_capture_on_commit_callbacks(execute=True):
        job = household_import_confirm(actor=world.user("reviewer_t1"), import_id=dry.pk)

    assert job.status == HouseholdImport.Status.DONE and job.applied
    assert job.households_created == 2
    first = Household.objects.get(head_name="王建国")
    assert first.area_code == VILLAGE_1 and first.household_type == Household.Kind.GENERAL
    assert first.poverty_causes == [Household.Cause.ILLNESS, Household.Cause.CAPITAL]
    assert idnumbers.decrypt(first.bank_card_cipher) == rows[0][7]
    members = {p.name: p for p in first.members.all()}
    assert set(members) == {"王建国", "李0花", "李1花"}
    assert members["李0花"].relation == Person.Relation.SPOUSE
    assert members["李1花"].relation == Person.Relation.CHILD
    assert idnumbers.decrypt(members["王建国"].id_cipher) == rows[0][3]
    assert members["王建国"].id_hash == idnumbers.lookup_hash(rows[0][3])
    created = AuditEntry.objects.filter(action="household.create", object_id=str(first.pk)).get()
    assert created.actor_name == "reviewer_t1"
    assert created.changes["head_id"][1] == idnumbers.mask_id_number(rows[0][3])
    assert created.reason == f"从 台账.csv 导入（第 {job.pk} 次导入）。"
    assert AuditEntry.objects.filter(
        action="household_import.finish", object_id=str(job.pk)
    ).exists()
    # The file held clear numbers: gone once applied, from both runs.
    stored = dry.stored_name
    dry.refresh_from_db()
    assert stored and job.stored_name == "" and dry.stored_name == ""
    assert not default_storage.exists(stored)


def test_real_run_of_a_clean_xlsx_file(world: World) -> None:
    rows = household_rows("A-1") + household_rows("A-2")
    rows[0][3] = f'="{rows[0][3]}"'  # a long number kept as text the Excel way

    job = start(world, "cadre_v1", as_xlsx(rows), dry_run=False, name="台账.xlsx")

    assert job.problem_count == 0, job.problems
    assert job.applied and job.households_created == 2


def test_gb18030_csv_is_read(world: World) -> None:
    job = start(world, "cadre_v1", as_csv(household_rows("1"), encoding="gb18030"), dry_run=False)

    assert job.applied and Household.objects.filter(head_name="王建国").exists()


def test_a_failure_in_the_last_row_refuses_the_whole_file(world: World) -> None:
    rows = [r for i in range(30) for r in household_rows(str(i), members=1)]
    rows[-1][3] = with_wrong_check_digit(rows[-1][3])
    households, people = Household.objects.count(), Person.objects.count()

    job = start(world, "cadre_v1", as_csv(rows), dry_run=False)

    assert job.status == HouseholdImport.Status.DONE and not job.applied
    assert problems(job) == [(len(rows) + 1, "身份证号")]
    assert "校验位" in job.problems[0]["message"] or "check digit" in job.problems[0]["message"]
    assert (Household.objects.count(), Person.objects.count()) == (households, people)
    assert not AuditEntry.objects.filter(action="household.create", actor_name="cadre_v1").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda r: r[1].__setitem__(3, with_wrong_check_digit(r[1][3])),
            (3, "身份证号"),
            id="check-digit",
        ),
        pytest.param(lambda r: r[2].__setitem__(3, r[1][3]), (4, "身份证号"), id="twice-in-file"),
        pytest.param(
            lambda r: r[1].__setitem__(4, "表兄"), (3, "与户主关系"), id="unknown-relation"
        ),
        pytest.param(lambda r: r[0].__setitem__(5, "贫困户"), (2, "贫困户属性"), id="unknown-type"),
        pytest.param(
            lambda r: r[0].__setitem__(6, "因病、因懒"), (2, "致贫原因"), id="unknown-cause"
        ),
        pytest.param(lambda r: r[0].__setitem__(8, "李四"), (2, "开户名"), id="holder-not-head"),
        pytest.param(lambda r: r[1].__setitem__(2, '=HYPERLINK("x")'), (3, "姓名"), id="formula"),
        pytest.param(
            lambda r: r[0].__setitem__(1, VILLAGE_B), (2, "村代码"), id="village-out-of-scope"
        ),
        pytest.param(
            lambda r: r[0].__setitem__(1, "620902199999"), (2, "村代码"), id="unknown-village"
        ),
        pytest.param(
            lambda r: r[0].__setitem__(1, "62090210"), (2, "村代码"), id="malformed-village"
        ),
        pytest.param(
            lambda r: r[1].__setitem__(1, VILLAGE_2), (3, "村代码"), id="member-other-village"
        ),
        pytest.param(lambda r: r[1].__setitem__(4, "户主"), (3, "与户主关系"), id="two-heads"),
        pytest.param(lambda r: r[0].__setitem__(4, "配偶"), (2, "与户主关系"), id="no-head"),
        pytest.param(lambda r: r[0].__setitem__(9, "12345"), (2, "联系电话"), id="phone"),
        pytest.param(lambda r: r[0].__setitem__(7, "1234"), (2, "银行卡号"), id="card"),
        pytest.param(lambda r: r[2].__setitem__(2, ""), (4, "姓名"), id="no-name"),
        pytest.param(
            lambda r: r[2].__setitem__(2, "李\x07四"), (4, "姓名"), id="control-character"
        ),
    ],
)
def test_each_problem_is_reported_by_row_and_column(
    world: World, change: Any, expected: tuple[int, str]
) -> None:
    rows = household_rows("1", members=2)
    change(rows)

    job = start(world, "cadre_v1", as_csv(rows), dry_run=False)

    assert expected in problems(job), job.problems
    assert all(p["message"] for p in job.problems)
    assert not job.applied and not Household.objects.filter(head_name="王建国").exists()


def test_a_formula_in_an_xlsx_cell_is_reported_not_evaluated(world: World) -> None:
    rows = household_rows("1")
    rows[0][9] = "=1380937+0"

    job = start(world, "cadre_v1", as_xlsx(rows), name="台账.xlsx")

    assert (2, "联系电话") in problems(job)


def test_a_missing_column_is_reported_and_nothing_else_read(world: World) -> None:
    header = [h for h in HEADERS if h != "开户名"]
    rows = [r[:8] + r[9:] for r in household_rows("1")]

    job = start(world, "cadre_v1", as_csv(rows, header=header))

    assert problems(job) == [(1, "开户名")]
    assert "开户名" in job.problems[0]["message"]


def test_blank_rows_are_ignored(world: World) -> None:
    rows = household_rows("1")
    rows.insert(1, [""] * 10)
    rows.append([])

    job = start(world, "cadre_v1", as_csv(rows))

    assert job.problem_count == 0 and job.rows_read == 3


def test_person_already_registered_in_scope_names_the_household(world: World) -> None:
    existing = make_household(actor=world.user("cadre_v1"), area_code=VILLAGE_1)
    number = idnumbers.decrypt(existing.members.get().id_cipher)
    rows = household_rows("1")
    rows[1][3] = number

    job = start(world, "cadre_v1", as_csv(rows))

    assert problems(job) == [(3, "身份证号")]
    assert str(existing.pk) in job.problems[0]["message"]


def test_person_registered_out_of_scope_is_not_located(world: World) -> None:
    elsewhere = make_household(actor=world.user("cadre_v3"), area_code=VILLAGE_3)
    number = idnumbers.decrypt(elsewhere.members.get().id_cipher)
    rows = household_rows("1")
    rows[2][3] = number

    job = start(world, "cadre_v1", as_csv(rows))

    assert problems(job) == [(4, "身份证号")]
    message = job.problems[0]["message"]
    assert str(elsewhere.pk) not in message and VILLAGE_3 not in message
    assert elsewhere.head_name not in message


def test_only_cadres_and_township_reviewers_import(world: World) -> None:
    with pytest.raises(Forbidden) as refused:
        start(world, "approver_a", as_csv(household_rows("1")))
    assert refused.value.code == Code.ROLE
    assert not HouseholdImport.objects.exists()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        pytest.param(b"", "a.csv", id="empty"),
        pytest.param(b"\x00\x01\x02binary" * 10, "a.csv", id="binary"),
        pytest.param(b"PK\x03\x04not really a zip", "a.xlsx", id="broken-workbook"),
        pytest.param(b"%PDF-1.4\n", "a.xlsx", id="not-a-workbook"),
    ],
)
def test_a_file_that_is_no_sheet_is_refused_at_once(
    world: World, content: bytes, name: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        start(world, "cadre_v1", io.BytesIO(content), name=name)
    assert refused.value.code == Code.IMPORT_INVALID
    assert "file" in refused.value.errors
    assert not HouseholdImport.objects.exists()


def test_a_file_over_the_limit_is_refused(world: World) -> None:
    big = io.BytesIO(b"a" * (MAX_IMPORT_BYTES + 1))

    with pytest.raises(InvalidInput) as refused:
        start(world, "cadre_v1", big)

    assert refused.value.code == Code.IMPORT_INVALID
    assert "40" in refused.value.errors["file"][0]


def test_large_files_run_in_the_background(world: World, settings: Any) -> None:
    settings.FUPIN_IMPORT_INLINE_BYTES = 10
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    with transaction.atomic():
        job = start(world, "cadre_v1", as_csv(household_rows("1")), dry_run=False)
    assert job.status == HouseholdImport.Status.QUEUED and job.task_id
    assert not Household.objects.filter(head_name="王建国").exists()

    done = household_import_run(import_id=job.pk)

    assert done.status == HouseholdImport.Status.DONE and done.applied
    assert done.rows_read == 3 and done.phase == HouseholdImport.Phase.FINISHED


def test_a_dry_run_with_problems_cannot_be_confirmed(world: World) -> None:
    rows = household_rows("1")
    rows[0][5] = "?"
    dry = start(world, "cadre_v1", as_csv(rows))

    with pytest.raises(Refused) as refused:
        household_import_confirm(actor=world.user("cadre_v1"), import_id=dry.pk)

    assert refused.value.code == Code.WRONG_STATE
    assert dry.stored_name == ""  # a file with problems is not kept


def test_a_dry_run_is_applied_once_and_only_by_its_sender(world: World) -> None:
    dry = start(world, "cadre_v1", as_csv(household_rows("1")))

    with pytest.raises(NotFound):
        household_import_confirm(actor=world.user("reviewer_t1"), import_id=dry.pk)
    household_import_confirm(actor=world.user("cadre_v1"), import_id=dry.pk)
    with pytest.raises(Refused) as again:
        household_import_confirm(actor=world.user("cadre_v1"), import_id=dry.pk)

    assert again.value.code == Code.ALREADY_IMPORTED
    assert Household.objects.filter(head_name="王建国").count() == 1


def test_a_person_registered_between_dry_run_and_confirmation_refuses_the_file(
    world: World,
) -> None:
    rows = household_rows("1") + household_rows("2", head="赵永福")
    dry = start(world, "cadre_v1", as_csv(rows))
    make_household(actor=world.user("cadre_v1"), area_code=VILLAGE_1, head_id_number=rows[4][3])

    job = household_import_confirm(actor=world.user("cadre_v1"), import_id=dry.pk)

    assert not job.applied and problems(job) == [(6, "身份证号")]
    assert not Household.objects.filter(head_name__in=["王建国", "赵永福"]).exists()


def test_a_shared_card_is_recorded_as_at_registration(world: World) -> None:
    existing = make_household(actor=world.user("cadre_v1"), area_code=VILLAGE_1)
    rows = household_rows("1")
    rows[0][7] = idnumbers.decrypt(existing.bank_card_cipher)

    job = start(world, "cadre_v1", as_csv(rows), dry_run=False)

    assert job.applied
    imported = Household.objects.get(head_name="王建国")
    flag = AuditEntry.objects.get(action="household.shared_card", object_id=str(imported.pk))
    assert flag.changes["other_households"] == [None, "1"]


def test_the_sweep_removes_unconfirmed_files_after_a_day(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    dry = start(world, "cadre_v1", as_csv(household_rows("1")))
    name = dry.stored_name

    household_imports_recover(now=clock.now())
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        household_imports_recover(now=clock.now() + timedelta(days=2))

    dry.refresh_from_db()
    assert dry.stored_name == "" and not default_storage.exists(name)


def test_the_template_has_the_headers_and_reads_back_clean(world: World) -> None:
    template = registry_template()
    rows = list(sheet_rows(template))

    assert rows[0] == (1, list(HEADERS))
    book = openpyxl.load_workbook(registry_template())
    assert len(book.sheetnames) == 2


def test_media_root_is_the_tests_own(media_root: Path) -> None:
    location = str(getattr(default_storage, "location", ""))
    assert location.startswith(str(media_root))


# --- two confirmations at once (PostgreSQL: real row locks, real threads) ------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_two_confirmations_at_once_register_the_file_once(world: World) -> None:
    from tests.factories import race

    dry = start(world, "cadre_v1", as_csv(household_rows("1") + household_rows("2", head="赵永福")))

    def confirm() -> None:
        household_import_confirm(actor=world.user("cadre_v1"), import_id=dry.pk)

    outcomes = race(confirm, confirm)

    assert outcomes.count("ok") == 1
    refused = next(o for o in outcomes if o != "ok")
    assert isinstance(refused, Refused) and refused.code == Code.ALREADY_IMPORTED
    assert Household.objects.filter(head_name__in=["王建国", "赵永福"]).count() == 2
    assert HouseholdImport.objects.filter(confirms=dry).count() == 1
