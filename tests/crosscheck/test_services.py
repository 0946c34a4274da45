"""Departments' lists as they arrive (CSV in UTF-8 or GB18030, workbooks), what is kept of
them, what is refused; and the inspector's disposition of a lead."""

from __future__ import annotations

from datetime import date

import pytest

from audit.models import AuditEntry
from common.errors import Code, Forbidden, InvalidInput, NotFound, Refused
from crosscheck.models import Lead, ReferenceList, ReferenceRow
from crosscheck.selectors import lists_in_force
from crosscheck.services import lead_dispose, lead_read
from tests.crosscheck.conftest import leads, list_csv, list_xlsx, scan, upload
from tests.factories import World, bank_card_number, id_number, with_wrong_check_digit

K = ReferenceList.Kind


def test_upload_keeps_hashes_and_masks_never_the_number(world: World) -> None:
    number = id_number()
    reference = upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [[number, "王明", "县水务局"]])
    (row,) = ReferenceRow.objects.filter(list=reference)
    assert row.id_masked == number[:6] + "********" + number[-4:]
    assert len(row.id_hash) == 64 and number not in row.id_hash
    assert (row.name, row.detail) == ("王明", "县水务局")
    assert (reference.rows_read, reference.rows_kept, reference.rows_skipped) == (1, 1, 0)
    assert len(reference.sha256) == 64
    (entry,) = AuditEntry.objects.filter(action="crosscheck.list_upload")
    assert entry.area_code.startswith("620902")
    assert number not in entry.changes


def test_upload_reads_gb18030_csv(world: World) -> None:
    number = id_number()
    data = list_csv(K.DECEASED, [[number, "赵桂兰", "2025年6月1日"]], encoding="gb18030")
    reference = upload(world.user("inspector_a"), K.DECEASED, [], data=data)
    assert ReferenceRow.objects.get(list=reference).date == date(2025, 6, 1)


def test_upload_reads_workbook_with_typed_cells(world: World) -> None:
    number = id_number()
    data = list_xlsx(K.VEHICLE, [[number, "王明", "甘F0001", 45000]], headers=None)
    reference = upload(world.user("inspector_a"), K.VEHICLE, [], data=data, name="车辆.xlsx")
    assert str(ReferenceRow.objects.get(list=reference).value) == "45000.00"


def test_upload_accepts_half_width_brackets_in_headers(world: World) -> None:
    number = id_number()
    data = list_xlsx(
        K.VEHICLE,
        [[number, "王明", "甘F1", "45000"]],
        headers=["身份证号", "姓名", "号牌", "车辆价值(元)"],
    )
    reference = upload(world.user("inspector_a"), K.VEHICLE, [], data=data, name="v.xlsx")
    assert reference.rows_kept == 1


def test_bad_rows_are_skipped_and_reported_by_row(world: World) -> None:
    good = id_number()
    rows = [
        [good, "王明", "县教育局"],
        [with_wrong_check_digit(id_number()), "李强", "县教育局"],
        ["12345", "李强", "县教育局"],
        [id_number(), "", "县教育局"],
        [id_number(), "张三", ""],
        ["", "", ""],  # blank: not a row
        [id_number(), '=HYPERLINK("x")', "县教育局"],
    ]
    reference = upload(world.user("inspector_a"), K.PUBLIC_SERVANT, rows)
    assert (reference.rows_read, reference.rows_kept, reference.rows_skipped) == (6, 1, 5)
    assert [(p["row"], p["column"]) for p in reference.skipped] == [
        (3, "身份证号"),
        (4, "身份证号"),
        (5, "姓名"),
        (6, "单位"),
        (8, "姓名"),
    ]
    assert "校验位" in reference.skipped[0]["message"]
    assert "公式" in reference.skipped[4]["message"]


def test_date_after_the_lists_date_is_skipped(world: World) -> None:
    reference = upload(
        world.user("inspector_a"),
        K.DECEASED,
        [[id_number(), "王明", "2026-10-01"], [id_number(), "李强", "2026-11-02"]],
        as_of=date(2026, 11, 1),
    )
    assert reference.rows_kept == 1
    assert reference.skipped[0]["row"] == 3


def test_headers_of_another_kind_refuse_the_whole_file(world: World) -> None:
    data = list_csv(K.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"]])
    with pytest.raises(InvalidInput) as refused:
        upload(world.user("inspector_a"), K.VEHICLE, [], data=data)
    assert refused.value.code == Code.REFERENCE_LIST_INVALID
    assert "车辆价值（元）" in refused.value.message
    assert not ReferenceList.objects.exists() and not ReferenceRow.objects.exists()


def test_file_with_no_good_row_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [["123", "王明", "县教育局"]])
    assert refused.value.code == Code.REFERENCE_LIST_INVALID
    assert not ReferenceList.objects.exists()


def test_binary_file_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [], data=b"\x00\x01\x02garbage")
    assert refused.value.code == Code.REFERENCE_LIST_INVALID


def test_broken_workbook_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        upload(
            world.user("inspector_a"), K.PUBLIC_SERVANT, [], data=b"PK\x03\x04broken", name="a.xlsx"
        )
    assert refused.value.code == Code.REFERENCE_LIST_INVALID


def test_same_file_twice_is_refused(world: World) -> None:
    rows = [[id_number(), "王明", "县教育局"]]
    upload(world.user("inspector_a"), K.PUBLIC_SERVANT, rows)
    with pytest.raises(InvalidInput) as refused:
        upload(world.user("inspector_a"), K.PUBLIC_SERVANT, rows)
    assert refused.value.code == Code.ALREADY_IMPORTED
    assert ReferenceList.objects.count() == 1


def test_missing_fields_are_refused_before_reading(world: World) -> None:
    from crosscheck.services import reference_list_upload

    with pytest.raises(InvalidInput) as refused:
        reference_list_upload(
            actor=world.user("inspector_a"),
            kind="cars",
            source=" ",
            as_of=date(2999, 1, 1),
            file=None,
        )
    assert set(refused.value.errors) == {"kind", "source", "as_of", "file"}


def test_newer_list_replaces_the_older_for_scans(world: World) -> None:
    number = id_number()
    world.household(members=[{"name": "王明", "id_number": number, "relation": "child"}])
    inspector = world.user("inspector_a")
    old = upload(
        inspector, K.PUBLIC_SERVANT, [[number, "王明", "县教育局"]], as_of=date(2026, 1, 1)
    )
    new = upload(
        inspector, K.PUBLIC_SERVANT, [[id_number(), "李强", "县教育局"]], as_of=date(2026, 6, 1)
    )
    assert lists_in_force("620902")[K.PUBLIC_SERVANT] == new
    assert old != new
    scan()
    assert leads("public_servant") == []


def test_only_inspectors_upload(world: World) -> None:
    with pytest.raises(Forbidden) as refused:
        upload(world.user("approver_a"), K.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"]])
    assert refused.value.code == Code.ROLE


def test_inspector_cannot_upload_for_another_county(world: World) -> None:
    from django.core.files.base import ContentFile

    from crosscheck.services import reference_list_upload

    with pytest.raises(NotFound) as refused:
        reference_list_upload(
            actor=world.user("inspector_a"),
            kind=K.PUBLIC_SERVANT,
            source="县人社局",
            as_of=date(2026, 1, 1),
            file=ContentFile(list_csv(K.PUBLIC_SERVANT, [[id_number(), "王明", "单位"]])),
            county="620903",
        )
    assert refused.value.code == Code.NOT_FOUND


# --- dispositions --------------------------------------------------------------------------


def _a_lead(world: World) -> Lead:
    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    scan()
    return leads("shared_card")[0]


def test_disposition_is_audited(world: World) -> None:
    lead = _a_lead(world)
    lead_dispose(
        actor=world.user("inspector_a"), lead_id=lead.pk, status="confirmed", note="核实为冒领。"
    )
    lead.refresh_from_db()
    assert (lead.status, lead.note, lead.disposed_by) == (
        "confirmed",
        "核实为冒领。",
        world.user("inspector_a"),
    )
    (entry,) = AuditEntry.objects.filter(action="lead.dispose", object_id=str(lead.pk))
    assert (entry.from_state, entry.to_state, entry.reason) == ("open", "confirmed", "核实为冒领。")


def test_disposition_needs_a_note(world: World) -> None:
    lead = _a_lead(world)
    with pytest.raises(InvalidInput) as refused:
        lead_dispose(actor=world.user("inspector_a"), lead_id=lead.pk, status="cleared", note=" ")
    assert refused.value.code == Code.INVALID and "note" in refused.value.errors
    lead.refresh_from_db()
    assert lead.status == "open"


def test_same_status_again_is_refused(world: World) -> None:
    lead = _a_lead(world)
    with pytest.raises(Refused) as refused:
        lead_dispose(
            actor=world.user("inspector_a"), lead_id=lead.pk, status="open", note="仍待核实"
        )
    assert refused.value.code == Code.WRONG_STATE


def test_other_countys_inspector_cannot_dispose(world: World) -> None:
    lead = _a_lead(world)
    with pytest.raises(NotFound) as refused:
        lead_dispose(
            actor=world.user("inspector_b"), lead_id=lead.pk, status="cleared", note="无问题"
        )
    assert refused.value.code == Code.NOT_FOUND


def test_cleared_lead_stays_cleared_when_found_again(world: World) -> None:
    lead = _a_lead(world)
    lead_dispose(
        actor=world.user("inspector_a"), lead_id=lead.pk, status="cleared", note="夫妻分户，合规。"
    )
    scan()
    lead.refresh_from_db()
    assert lead.status == "cleared"


def test_cleared_lead_reopens_when_its_evidence_changes(world: World) -> None:
    card = bank_card_number()
    first = world.household(bank_card=card)
    world.household(bank_card=card)
    scan()
    lead = Lead.objects.get(rule="shared_card", household=first)
    lead_dispose(
        actor=world.user("inspector_a"), lead_id=lead.pk, status="cleared", note="夫妻分户，合规。"
    )
    world.household(bank_card=card)  # a third household takes the card
    scan()
    lead.refresh_from_db()
    assert lead.status == "open"
    assert lead.facts["households"] == 3
    assert AuditEntry.objects.filter(action="lead.reopen", object_id=str(lead.pk)).count() == 1


def test_reading_a_lead_is_on_the_record(world: World) -> None:
    lead = _a_lead(world)
    lead_read(actor=world.user("inspector_a"), lead_id=lead.pk)
    assert AuditEntry.objects.filter(
        action="lead.read", object_id=str(lead.pk), actor=world.user("inspector_a")
    ).exists()


# --- two scans at once (PostgreSQL: real row locks, real threads) --------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_two_scans_at_once_keep_one_lead_per_finding(world: World) -> None:
    from crosscheck.models import Scan
    from crosscheck.services import scan_run
    from tests.factories import race

    card = bank_card_number()
    world.household(bank_card=card)
    world.household(bank_card=card)
    first, second = (Scan.objects.create(county_code="620902") for _ in range(2))

    outcomes = race(lambda: scan_run(scan_id=first.pk), lambda: scan_run(scan_id=second.pk))

    assert outcomes == ["ok", "ok"]
    assert Lead.objects.filter(rule="shared_card").count() == 2
    assert {s.status for s in Scan.objects.all()} == {"done"}
    scans = list(Scan.objects.all())
    assert scans[0].leads_found == scans[1].leads_found == Lead.objects.count()
    # One scan wrote every lead, the other found them written: none twice.
    assert sorted(s.leads_new for s in scans) == [0, Lead.objects.count()]


# --- the review's cases: evidence that did not change, and a conclusion during a scan -----


def test_same_match_on_a_newer_list_in_another_order_stays_cleared(world: World) -> None:
    number = id_number()
    world.household(members=[{"name": "王明", "id_number": number, "relation": "child"}])
    inspector = world.user("inspector_a")
    upload(inspector, K.VEHICLE, [[number, "王明", "甘F1", "45000"]], as_of=date(2026, 1, 1))
    scan()
    (lead,) = leads("vehicle")
    lead_dispose(actor=inspector, lead_id=lead.pk, status="cleared", note="车辆已过户。")
    newer = upload(
        inspector,
        K.VEHICLE,
        [[id_number(), "李强", "甘F9", "8000"], [number, "王 明", "甘F1", "41000"]],
        as_of=date(2026, 6, 1),
    )
    scan()
    lead.refresh_from_db()
    assert lead.status == "cleared"
    assert lead.facts["list"]["id"] == newer.pk  # the evidence cites the list in force
    assert not AuditEntry.objects.filter(action="lead.reopen").exists()


def test_new_vehicle_on_a_newer_list_reopens_a_cleared_lead(world: World) -> None:
    number = id_number()
    world.household(members=[{"name": "王明", "id_number": number, "relation": "child"}])
    inspector = world.user("inspector_a")
    upload(inspector, K.VEHICLE, [[number, "王明", "甘F1", "45000"]], as_of=date(2026, 1, 1))
    scan()
    (lead,) = leads("vehicle")
    lead_dispose(actor=inspector, lead_id=lead.pk, status="cleared", note="车辆已过户。")
    upload(
        inspector,
        K.VEHICLE,
        [[number, "王明", "甘F1", "45000"], [number, "王明", "甘F2", "90000"]],
        as_of=date(2026, 6, 1),
    )
    scan()
    lead.refresh_from_db()
    assert lead.status == "open"


def test_conclusion_recorded_while_a_scan_writes_is_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crosscheck.services as services

    card = bank_card_number()
    first = world.household(bank_card=card)
    world.household(bank_card=card)
    scan()
    lead = Lead.objects.get(rule="shared_card", household=first)
    world.household(bank_card=card)  # the evidence changes for the next scan
    original = services.rows_update  # type: ignore[attr-defined]

    def inspector_first(*args: object, **kwargs: object) -> None:
        # The inspector's conclusion lands between the scan's read and its write.
        Lead.objects.filter(pk=lead.pk).update(status="confirmed", note="已查实")
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "rows_update", inspector_first)
    scan()
    lead.refresh_from_db()
    assert (lead.status, lead.note) == ("confirmed", "已查实")
    assert lead.facts["households"] == 3


def test_id_written_as_a_quoted_formula_is_read_as_text(world: World) -> None:
    number = id_number()
    data = list_csv(K.PUBLIC_SERVANT, [[f'="{number}"', "王明", "县教育局"]])
    reference = upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [], data=data)
    assert reference.rows_kept == 1


def test_formula_problem_never_repeats_the_cell(world: World) -> None:
    number = id_number()
    data = list_csv(
        K.PUBLIC_SERVANT,
        [[id_number(), "王明", "县教育局"], [f"=TEXT({number},0)", "李强", "县教育局"]],
    )
    reference = upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [], data=data)
    assert reference.rows_skipped == 1
    assert number not in str(reference.skipped)


def test_control_characters_in_a_cell_skip_the_row(world: World) -> None:
    data = list_csv(
        K.PUBLIC_SERVANT, [[id_number(), "王明", "县教育局"], [id_number(), "李\x07强", "县局"]]
    )
    reference = upload(world.user("inspector_a"), K.PUBLIC_SERVANT, [], data=data)
    assert (reference.rows_kept, reference.rows_skipped) == (1, 1)
    assert reference.skipped[0]["column"] == "姓名"


def test_amount_rounding_past_the_column_is_skipped(world: World) -> None:
    reference = upload(
        world.user("inspector_a"),
        K.VEHICLE,
        [[id_number(), "王明", "甘F1", "45000"], [id_number(), "李强", "甘F2", "999999999999.995"]],
    )
    assert (reference.rows_kept, reference.rows_skipped) == (1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flushable_ledger")
def test_reading_a_lead_outside_a_transaction_is_recorded(world: World) -> None:
    # As a page or the API reads it: no transaction around the request.
    lead = _a_lead(world)
    lead_read(actor=world.user("inspector_a"), lead_id=lead.pk)
    assert AuditEntry.objects.filter(action="lead.read", object_id=str(lead.pk)).exists()


def test_the_integrity_scan_command_scans_a_county_and_says_what_it_found(world: World) -> None:
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("integrity_scan", "--county", "620902", stdout=out)
    with pytest.raises(CommandError):
        call_command("integrity_scan", "--county", "999999", stdout=io.StringIO())

    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("scan ") and " leads (" in lines[-1]
    assert len(lines) > 1
