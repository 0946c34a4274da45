"""The inspectors' pages (``inspection.views``): the audit trail of their county,
searched, paged, exported, and the ledger verified."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from applications.models import Application, Household
from approvals.selectors import audit_visible_to
from approvals.services.filing import application_edit
from approvals.services.transitions import application_transition
from audit.models import AuditEntry
from audit.services import audit_record
from common.errors import Code, NotFound
from inspection import views
from inspection.exports import AUDIT_COLUMNS
from inspection.selectors import MAX_RED_FLAGS
from tests.factories import (
    VILLAGE_1,
    VILLAGE_2,
    VILLAGE_B,
    World,
    bank_card_number,
    declare_kin,
    id_number,
    upload_signed_agreement,
)

Bypass = Callable[[], AbstractContextManager[None]]
pytestmark = pytest.mark.django_db

AUDIT = reverse("inspection:audit")
CSV = reverse("inspection:audit_export_csv")
XLSX = reverse("inspection:audit_export_xlsx")
VERIFY = reverse("inspection:audit_verify")
FLAGS = reverse("inspection:leads")  # the red flags are the last part of the leads page

COL = {key: n for n, (key, _label) in enumerate(AUDIT_COLUMNS)}
FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@A1", "\tTAB", "\rCR"]


def test_inspection_urls_are_where_they_always_were() -> None:
    assert (AUDIT, CSV, XLSX, VERIFY, reverse("inspection:red_flags")) == (
        "/inspect/audit/",
        "/inspect/audit/export.csv",
        "/inspect/audit/export.xlsx",
        "/inspect/verify/",
        "/inspect/flags/",
    )


def test_old_red_flags_address_leads_to_the_leads_page(world: World) -> None:
    response = client_for(world, "inspector_a").get("/inspect/flags/")
    assert response.status_code == 302
    assert response["Location"] == "/inspect/leads/#flags"


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def shown(response: Any) -> list[AuditEntry]:
    return list(response.context["page"].entries)


@pytest.fixture
def apps(world: World) -> tuple[Application, Application]:
    """One application approved by the county in county A, one draft in county B."""
    return world.application("approved"), world.application("draft", area_code=VILLAGE_B)


def test_audit_page_inspector_sees_own_county_only(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, theirs = apps

    response = client_for(world, "inspector_a").get(AUDIT)

    assert response.status_code == 200
    entries = shown(response)
    assert entries
    assert all(e.area_code.startswith("620902") for e in entries)
    assert {e.object_id for e in entries if e.object_type == "application"} == {str(mine.pk)}
    assert "application.county_approve" in response.content.decode()


def test_audit_page_other_county_inspector_sees_nothing_of_it(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, _theirs = apps

    response = client_for(world, "inspector_b").get(AUDIT, {"application": mine.pk})

    assert response.status_code == 200
    assert shown(response) == []
    everything = shown(client_for(world, "inspector_b").get(AUDIT))
    assert all(e.area_code.startswith("620903") for e in everything)


@pytest.mark.parametrize("url", [AUDIT, CSV, XLSX, VERIFY])
def test_inspect_pages_refuse_non_inspector(world: World, url: str) -> None:
    for username in ("cadre_v1", "reviewer_t1", "approver_a", "finance_a"):
        assert client_for(world, username).get(url).status_code == 403
    assert client_for(world, "cadre_v1").post(VERIFY).status_code == 403
    assert not AuditEntry.objects.filter(action="audit.verify").exists()


def test_audit_page_suggests_every_recorded_action_by_its_name(world: World) -> None:
    page = client_for(world, "inspector_a").get(AUDIT).content.decode()

    for action in ("application.township_approve", "document_batch.requeue", "audit.anchor"):
        assert f'<option value="{action}" label="' in page
    assert '<option value="audit.verify" label="校验审计链">' in page


def test_inspect_pages_send_anonymous_to_sign_in(world: World) -> None:
    response = Client().get(AUDIT)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_audit_filter_by_application(world: World, apps: tuple[Application, Application]) -> None:
    mine, _theirs = apps
    other = world.application("submitted")

    entries = shown(client_for(world, "inspector_a").get(AUDIT, {"application": mine.pk}))

    assert entries
    assert {(e.object_type, e.object_id) for e in entries} == {("application", str(mine.pk))}
    assert str(other.pk) not in {e.object_id for e in entries}


def test_audit_filter_by_household_name_includes_its_own_entries(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, _theirs = apps
    household = mine.household
    world.application("draft")  # another household of the same village

    by_name = shown(client_for(world, "inspector_a").get(AUDIT, {"household": household.head_name}))
    by_id = shown(client_for(world, "inspector_a").get(AUDIT, {"household": household.pk}))

    keys = {(e.object_type, e.object_id) for e in by_id}
    assert keys == {("household", str(household.pk)), ("application", str(mine.pk))}
    assert {e.pk for e in by_name} >= {e.pk for e in by_id}
    assert "household.create" in {e.action for e in by_id}


def test_audit_filter_by_person_action_and_outcome(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, _theirs = apps
    client = client_for(world, "inspector_a")
    with pytest.raises(NotFound) as outside:  # a cadre of another village: refused, on record
        application_edit(
            actor=world.user("cadre_v2"), application_id=mine.pk, appraisal_votes_for=1
        )
    assert outside.value.code == Code.NOT_FOUND

    by_actor = shown(client.get(AUDIT, {"actor": "reviewer_t1"}))
    by_action = shown(client.get(AUDIT, {"action": "application.township_approve"}))
    refused = shown(client.get(AUDIT, {"outcome": "refused"}))

    assert by_actor and {e.actor_name for e in by_actor} == {"reviewer_t1"}
    assert [e.object_id for e in by_action] == [str(mine.pk)]
    assert refused and {(e.actor_name, e.outcome) for e in refused} == {("cadre_v2", "refused")}


def test_audit_filter_by_time_range(world: World, apps: tuple[Application, Application]) -> None:
    client = client_for(world, "inspector_a")
    today = timezone.localdate()
    day = timedelta(days=1)

    today_only = shown(client.get(AUDIT, {"since": str(today), "until": str(today)}))
    tomorrow = shown(client.get(AUDIT, {"since": str(today + day)}))
    before = shown(client.get(AUDIT, {"until": str(today - day)}))
    backwards = client.get(AUDIT, {"since": str(today), "until": str(today - day)})

    assert today_only and any(e.action == "application.county_approve" for e in today_only)
    assert tomorrow == []
    assert not any(e.object_type == "application" for e in before)
    assert backwards.context["form"].errors
    assert shown(backwards) == []


def test_audit_pages_walk_every_entry_once(
    world: World, apps: tuple[Application, Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    client = client_for(world, "inspector_a")
    expected = list(
        audit_visible_to(world.user("inspector_a"))
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    seen: list[int] = []
    pages = []
    params: dict[str, str] = {}
    while True:
        page = client.get(AUDIT, params).context["page"]
        pages.append(page)
        seen.extend(e.pk for e in page.entries)
        if not page.older:
            break
        params = {"after": page.older}

    assert seen == expected
    assert len(pages) > 2
    back = client.get(AUDIT, {"before": pages[2].newer}).context["page"]
    assert [e.pk for e in back.entries] == [e.pk for e in pages[1].entries]


def _formula_entries(app: Application) -> None:
    with transaction.atomic():
        for text in FORMULAS:
            audit_record(
                actor=None,
                action="test.note",
                object_type="application",
                object_id=app.pk,
                area_code=app.area_code,
                reason=text,
                actor_name=text,
            )


def test_audit_csv_export_neutralises_formula_cells(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, theirs = apps
    _formula_entries(mine)

    response = client_for(world, "inspector_a").get(CSV, {"application": mine.pk})

    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    body = rows[1:]
    reason, actor = COL["reason"], COL["actor"]
    notes = [r for r in body if r[COL["action"]] == "test.note"]
    assert sorted(r[reason] for r in notes) == sorted("'" + f for f in FORMULAS)
    assert sorted(r[actor] for r in notes) == sorted("'" + f for f in FORMULAS)
    assert all(not cell.startswith(tuple("=+-@\t\r")) for r in body for cell in r)
    assert {r[COL["object_id"]] for r in body} == {str(mine.pk)}
    assert str(theirs.pk) not in {r[COL["object_id"]] for r in body}


def test_audit_excel_export_neutralises_formula_cells(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, _theirs = apps
    _formula_entries(mine)

    response = client_for(world, "inspector_a").get(XLSX, {"application": mine.pk})

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    types = {c.data_type for row in sheet.iter_rows() for c in row}
    body = rows[1:]
    notes = [r for r in body if r[COL["action"]] == "test.note"]
    # A carriage return is stored escaped as ``_x000D_`` (ECMA-376's ST_Xstring, which
    # Excel decodes and openpyxl leaves as it is); the apostrophe is what counts.
    expected = sorted(("'" + f).replace("\r", "_x000D_") for f in FORMULAS)
    assert sorted(r[COL["reason"]] for r in notes) == expected
    assert "f" not in types  # no cell is a formula
    assert all(not str(v).startswith(tuple("=+-@\t\r")) for r in body for v in r if v)


def test_audit_export_is_on_the_record(world: World, apps: tuple[Application, Application]) -> None:
    client_for(world, "inspector_a").get(XLSX, {"actor": "cadre_v1"})

    entry = AuditEntry.objects.get(action="audit.export")
    assert (entry.actor_name, entry.chain) == ("inspector_a", "620902")
    assert entry.changes["search"] == [None, "actor=cadre_v1"]


def test_verify_page_reports_ok_on_intact_ledger_and_is_audited(
    world: World, apps: tuple[Application, Application]
) -> None:
    client = client_for(world, "inspector_a")
    assert client.get(VERIFY).status_code == 200

    response = client.post(VERIFY)

    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok
    assert report.entries > 0
    html = response.content.decode()
    assert "<strong>完好</strong>" in html and "<strong>OK</strong>" not in html
    entry = AuditEntry.objects.get(action="audit.verify")
    assert (entry.actor_name, entry.chain, entry.outcome) == ("inspector_a", "620902", "done")
    assert entry.changes["ok"] == [None, True]


def test_verify_page_names_the_altered_entry(
    world: World, apps: tuple[Application, Application], append_only_bypassed: Bypass
) -> None:
    mine, _theirs = apps
    entry = AuditEntry.objects.get(
        object_type="application", object_id=str(mine.pk), action="application.county_approve"
    )
    with append_only_bypassed():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_name="nobody")

    response = client_for(world, "inspector_a").post(VERIFY)

    content = response.content.decode()
    assert not response.context["report"].ok
    assert "altered" in content
    assert f"chain {entry.chain} entry #{entry.seq} (id {entry.pk})" in content
    record = AuditEntry.objects.get(action="audit.verify")
    assert record.changes["ok"] == [None, False]
    assert "altered" in record.reason


def test_verify_page_names_a_database_edit(
    world: World, apps: tuple[Application, Application]
) -> None:
    mine, _theirs = apps
    Application.objects.filter(pk=mine.pk).update(amount="4999.00")

    response = client_for(world, "inspector_a").post(VERIFY)

    assert "database differs" in response.content.decode()
    assert f"application {mine.pk} has amount 4999.00" in response.content.decode()


def test_verify_page_keeps_to_the_inspectors_county(
    world: World, apps: tuple[Application, Application], append_only_bypassed: Bypass
) -> None:
    _mine, theirs = apps
    entry = AuditEntry.objects.filter(object_id=str(theirs.pk), object_type="application").first()
    assert entry is not None
    with append_only_bypassed():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="forged")

    ours = client_for(world, "inspector_a").post(VERIFY).context["report"]
    theirs_report = client_for(world, "inspector_b").post(VERIFY).context["report"]

    assert ours.ok
    assert not theirs_report.ok
    assert {p.chain for p in theirs_report.problems} == {"620903"}


def test_application_transition_reason_formula_neutralised_in_csv(
    world: World, apps: tuple[Application, Application]
) -> None:
    app = world.application("township_review", area_code=VILLAGE_1)
    application_transition(
        actor=world.user("reviewer_t1"),
        application_id=app.pk,
        name="return",
        reason='=HYPERLINK("http://evil.example","x")',
    )

    response = client_for(world, "inspector_a").get(CSV, {"action": "application.return"})

    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [r[COL["reason"]] for r in rows] == ['\'=HYPERLINK("http://evil.example","x")']


def test_home_page_links_inspector_to_the_audit_trail(world: World) -> None:
    inspector = client_for(world, "inspector_a").get(reverse("workflows:home")).content.decode()
    cadre = client_for(world, "cadre_v1").get(reverse("workflows:home")).content.decode()

    assert AUDIT in inspector and VERIFY in inspector
    assert AUDIT not in cadre


def test_superuser_sees_and_verifies_every_county(
    world: World, apps: tuple[Application, Application]
) -> None:
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root_inspect", password="x-Long-pw-1")
    client = Client()
    client.force_login(admin)

    entries = shown(client.get(AUDIT, {"action": "application.create"}))
    report = client.post(VERIFY).context["report"]

    assert {e.object_id for e in entries} == {str(a.pk) for a in apps}
    assert report.ok
    assert AuditEntry.objects.get(action="audit.verify").chain == "000000"


def test_inspect_pages_speak_chinese_by_default(world: World) -> None:
    page = client_for(world, "inspector_a").get(VERIFY).content.decode()

    assert "校验审计链" in page


# --- red flags (DOMAIN rules 4 and 5) -----------------------------------------------------------


def test_red_flags_page_lists_kin_flags_shared_cards_and_held_payments(world: World) -> None:
    relative, card = id_number(), bank_card_number()
    kin = world.application(
        "township_review", household=world.household(VILLAGE_1, head_id_number=relative)
    )
    declare_kin(official=world.user("reviewer_t1"), relation="sibling", id_number=relative)
    sharing = world.household(VILLAGE_1, bank_card=card, head_name="赵共卡")
    world.household(VILLAGE_2, bank_card=card)
    world.household(VILLAGE_B, bank_card=card)  # another county
    held = world.application("approved", household=sharing)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=held.pk)

    response = client_for(world, "inspector_a").get(FLAGS)

    assert response.status_code == 200
    assert [f.application_id for f in response.context["kin_flags"]] == [kin.pk]
    [shared] = response.context["shared_cards"]
    assert len(shared.households) == 2 and shared.elsewhere == 1
    assert [a.pk for a in response.context["held"]] == [held.pk]
    assert [d.official.get_username() for d in response.context["declarations"]] == ["reviewer_t1"]
    body = response.content.decode()
    assert card not in body and relative not in body
    assert "赵共卡" in body


def approved_copies(app: Application, n: int) -> None:
    """``n`` more approved applications like ``app``, each of a household of its own with a
    card of its own (nothing held), inserted in bulk: a county's worth of approvals."""
    household = app.household
    households = Household.objects.bulk_create(
        [
            Household(
                area=household.area,
                area_code=household.area_code,
                head_name=household.head_name,
                head_id_masked=household.head_id_masked,
                household_type=household.household_type,
                bank_card_cipher=household.bank_card_cipher,
                bank_card_hash=f"bulk-{i}",
                bank_card_masked=household.bank_card_masked,
                bank_card_holder=household.bank_card_holder,
                phone=household.phone,
            )
            for i in range(n)
        ]
    )
    Application.objects.bulk_create(
        [
            Application(
                household=h,
                program_id=app.program_id,
                program_version_id=app.program_version_id,
                area_code=app.area_code,
                status=Application.Status.APPROVED,
                amount=app.amount,
                created_by_id=app.created_by_id,
            )
            for h in households
        ]
    )


def test_red_flags_page_finds_a_held_payment_after_many_approved_ones(world: World) -> None:
    # The page once looked for held payments among the first MAX_RED_FLAGS * 5 approved
    # applications only: one approved after them was never shown.
    approved_copies(world.application("approved"), MAX_RED_FLAGS * 5)
    card = bank_card_number()
    held = world.application("approved", household=world.household(VILLAGE_1, bank_card=card))
    world.household(VILLAGE_2, bank_card=card)

    response = client_for(world, "inspector_a").get(FLAGS)

    assert [a.pk for a in response.context["held"]] == [held.pk]
    assert f'data-application="{held.pk}"' in response.content.decode()


def test_red_flags_page_of_another_county_is_empty(world: World) -> None:
    relative = id_number()
    world.application("draft", household=world.household(VILLAGE_1, head_id_number=relative))
    declare_kin(official=world.user("reviewer_t1"), relation="sibling", id_number=relative)

    response = client_for(world, "inspector_b").get(FLAGS)

    assert response.context["kin_flags"] == []
    assert response.context["declarations"] == []


def test_red_flags_page_is_for_inspectors(world: World) -> None:
    assert client_for(world, "reviewer_t1").get(FLAGS).status_code == 403


# --- anchors on the verification page -----------------------------------------------------------


def _rewrite_anchored_tail(anchor: Any) -> int:
    """An attacker's edit the plain verification cannot see: the anchored head entry and
    everything after it re-hashed, the chain head moved along (triggers must be off)."""
    from tests.audit.test_anchors import rewrite_from

    (head,) = anchor.heads
    return rewrite_from(head.chain, head.seq, reason="forged").seq


def test_verify_page_makes_an_anchor_of_the_inspectors_county_audited(
    world: World, apps: tuple[Application, Application]
) -> None:
    response = client_for(world, "inspector_a").post(VERIFY, {"action": "anchor"})

    assert response.status_code == 200
    created = response.context["created"]
    assert [h.chain for h in created.heads] == ["620902"]
    content = response.content.decode()
    assert created.text().splitlines()[1] in content
    entry = AuditEntry.objects.get(action="audit.anchor")
    assert (entry.actor_name, entry.chain) == ("inspector_a", "620902")
    assert not AuditEntry.objects.filter(action="audit.verify").exists()


def test_verify_page_anchor_refused_to_non_inspector(
    world: World, apps: tuple[Application, Application]
) -> None:
    for username in ("cadre_v1", "reviewer_t1", "approver_a", "finance_a"):
        response = client_for(world, username).post(VERIFY, {"action": "anchor"})
        assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="audit.anchor").exists()


def test_verify_page_pasted_anchor_matches_intact_ledger(
    world: World, apps: tuple[Application, Application]
) -> None:
    client = client_for(world, "inspector_a")
    anchor = client.post(VERIFY, {"action": "anchor"}).context["created"]

    response = client.post(VERIFY, {"action": "verify", "anchor": anchor.text()})

    report = response.context["report"]
    assert report.ok
    assert [(c.chain, c.ok) for c in report.anchor_checks] == [("620902", True)]
    assert "与锚点一致" in response.content.decode()
    record = AuditEntry.objects.get(action="audit.verify")
    assert record.changes["anchors"] == [None, [anchor.digest[:16]]]


def test_verify_page_pasted_anchor_catches_rewritten_tail(
    world: World, apps: tuple[Application, Application], append_only_bypassed: Bypass
) -> None:
    client = client_for(world, "inspector_a")
    anchor = client.post(VERIFY, {"action": "anchor"}).context["created"]
    with append_only_bypassed():
        seq = _rewrite_anchored_tail(anchor)

    plain = client.post(VERIFY, {"action": "verify"}).context["report"]
    response = client.post(VERIFY, {"action": "verify", "anchor": anchor.json_line()})

    assert plain.ok
    report = response.context["report"]
    assert not report.ok
    assert [(c.chain, c.seq, c.ok) for c in report.anchor_checks] == [("620902", seq, False)]
    content = response.content.decode()
    assert f"chain 620902 entry #{seq}" in content
    assert anchor.time in content


def test_verify_page_malformed_anchor_explained_and_nothing_recorded(
    world: World, apps: tuple[Application, Application]
) -> None:
    before = AuditEntry.objects.count()

    response = client_for(world, "inspector_a").post(
        VERIFY, {"action": "verify", "anchor": "AUDIT-ANCHOR 2025-01-31T02:00:00Z\n620902 #3 xyz"}
    )

    assert response.status_code == 200
    assert response.context["report"] is None
    assert "第 2 行" in response.content.decode()
    assert AuditEntry.objects.count() == before


def test_verify_page_anchor_of_another_county_not_checked(
    world: World, apps: tuple[Application, Application], append_only_bypassed: Bypass
) -> None:
    theirs = client_for(world, "inspector_b").post(VERIFY, {"action": "anchor"}).context["created"]
    with append_only_bypassed():
        _rewrite_anchored_tail(theirs)

    response = client_for(world, "inspector_a").post(
        VERIFY, {"action": "verify", "anchor": theirs.json_line()}
    )

    report = response.context["report"]
    assert report.ok
    assert report.anchor_checks == []
    assert response.context["other_heads"] == 1


def test_red_flags_page_lists_payments_the_bank_made_short(world: World) -> None:
    from payments.services.bank_files import bank_return_import
    from tests.payments.test_services import return_file, sent_round

    round_, _apps = sent_round(world, 2)
    short, full = round_.lines.order_by("reference")
    bank_return_import(
        actor=world.user("finance_a"),
        round_id=round_.pk,
        data=return_file(
            round_,
            {
                short.reference: ("0000", "成功", short.amount - 500),
                full.reference: ("0000", "成功", None),
            },
        ),
    )

    page = client_for(world, "inspector_a").get(FLAGS)
    other_county = client_for(world, "inspector_b").get(FLAGS)

    assert [line.reference for line in page.context["discrepancies"]] == [short.reference]
    assert 'id="paid_amount_mismatch"' in page.content.decode()
    assert other_county.context["discrepancies"] == []
