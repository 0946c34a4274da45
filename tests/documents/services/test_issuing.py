from __future__ import annotations

import io

import pdfplumber
import pytest
from PIL import Image as PILImage

from approvals.services.transitions import application_transition
from audit.models import AuditEntry
from common.errors import Code, NotFound, Refused
from documents import rendering
from documents.models import StoredDocument
from documents.selectors import document_read
from documents.services.issuing import (
    agreement_issue,
    benefits_card_issue,
    decision_letter_issue,
    notice_issue,
)
from documents.services.verification import verification_url
from tests.documents.conftest import VILLAGE, World, id_number
from tests.factories import pay_through_round, upload_signed_agreement


def _text(document: StoredDocument) -> str:
    """The PDF's text without whitespace (letter-spaced headings extract with spaces)."""
    with pdfplumber.open(io.BytesIO(document_read(document))) as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    return "".join(text.split())


def test_agreement_holds_parties_amounts_and_dates(world: World) -> None:
    app = world.application_approved(world.household)
    text = _text(agreement_issue(actor=world.cadre, application_id=app.pk))
    assert "到户产业帮扶协议书" in text
    assert "李䶮" in text
    assert "城东街道人民政府" in text
    assert "¥5,000.00" in text and "¥3,000.00" in text and "¥2,000.00" in text
    assert "伍仟元整" in text
    decided = app.decisions.get(transition="county_approve").decided_at
    assert f"{decided.year}年" in text and "按手印" in text and "驻村工作队" in text


def test_agreement_fits_one_page_and_its_qr_code_encodes_the_verification_url(
    world: World,
) -> None:
    app = world.application_approved(world.household)
    doc = agreement_issue(actor=world.cadre, application_id=app.pk)
    with pdfplumber.open(io.BytesIO(document_read(doc))) as pdf:
        assert len(pdf.pages) == 1
        (image,) = pdf.pages[0].images
        stream = image["stream"]
        size = (int(stream["Width"]), int(stream["Height"]))
        assert stream["BitsPerComponent"] == 8 and "RGB" in str(stream["ColorSpace"])
        pixels = PILImage.frombytes("RGB", size, stream.get_data()).convert("L")
    want = rendering.qr_matrix(verification_url(doc.verification_code))
    assert size == (len(want), len(want))
    grey = pixels.tobytes()
    drawn = [[grey[y * size[0] + x] < 128 for x in range(size[0])] for y in range(size[1])]
    assert drawn == want
    # Printed square, without smoothing between modules.
    assert image["width"] == pytest.approx(image["height"], rel=0.01)
    assert stream["Interpolate"] is False


def test_agreement_issued_twice_is_the_same_stored_document(world: World) -> None:
    app = world.application_approved(world.household)
    first = agreement_issue(actor=world.cadre, application_id=app.pk)
    again = agreement_issue(actor=world.reviewer, application_id=app.pk)
    assert again.pk == first.pk
    assert document_read(again) == document_read(first)
    assert StoredDocument.objects.count() == 1


def test_agreement_sha256_and_code_are_in_the_audit_trail(world: World) -> None:
    app = world.application_approved(world.household)
    doc = agreement_issue(actor=world.cadre, application_id=app.pk)
    entry = AuditEntry.objects.get(action="document.issue", object_id=str(doc.pk))
    assert entry.changes["sha256"] == [None, doc.sha256]
    assert entry.area_code == VILLAGE
    assert len(doc.verification_code) == 10
    assert doc.verification_code in _text(doc)


def test_agreement_refused_before_approval(world: World) -> None:
    app = world.application_posted(world.household)
    with pytest.raises(Refused) as err:
        agreement_issue(actor=world.cadre, application_id=app.pk)
    assert err.value.code == Code.NOT_APPROVED
    assert not StoredDocument.objects.exists()


def test_agreement_out_of_area_is_not_found(world: World) -> None:
    app = world.application_approved(world.household)
    with pytest.raises(NotFound) as err:
        agreement_issue(actor=world.outsider, application_id=app.pk)
    assert err.value.code == Code.NOT_FOUND


def test_agreement_not_issued_by_inspector(world: World) -> None:
    app = world.application_approved(world.household)
    with pytest.raises(NotFound) as err:
        agreement_issue(actor=world.inspector, application_id=app.pk)
    assert err.value.code == Code.NOT_FOUND


def test_decision_letter_returned_holds_the_reason(world: World) -> None:
    app = world.application_in_review(world.household)
    application_transition(
        actor=world.reviewer, application_id=app.pk, name="return", reason="缺少圈舍照片"
    )
    text = _text(decision_letter_issue(actor=world.cadre, application_id=app.pk))
    assert "退回补正" in text and "缺少圈舍照片" in text and "李䶮" in text


def test_decision_letter_approved_holds_amount_in_capitals(world: World) -> None:
    app = world.application_approved(world.household)
    text = _text(decision_letter_issue(actor=world.cadre, application_id=app.pk))
    assert "予以批准" in text and "伍仟元整" in text and "6222********5678" in text


def test_notice_lists_postings_without_id_phone_or_card(world: World) -> None:
    other = world.household_new("王𠮷", 2, "6217001234567890123", "13900001111")
    world.application_posted(world.household)
    world.application_posted(other, sheep=5)
    doc = notice_issue(actor=world.cadre, village_code=VILLAGE)
    text = _text(doc)
    assert "李䶮" in text and "王𠮷" in text
    assert "¥5,000.00" in text and "¥4,000.00" in text and "¥9,000.00" in text
    assert "异议" in text and "公示期" in text
    for secret in (
        id_number(1),
        id_number(2),
        "6222020200112345678",
        "6217001234567890123",
        "13812345678",
        "13900001111",
        "500114********",
        "5678",
    ):
        assert secret not in text
    with pdfplumber.open(io.BytesIO(document_read(doc))) as pdf:
        assert pdf.pages[0].width > pdf.pages[0].height  # landscape


def test_notice_out_of_area_is_not_found(world: World) -> None:
    world.application_posted(world.household)
    with pytest.raises(NotFound) as err:
        notice_issue(actor=world.outsider, village_code=VILLAGE)
    assert err.value.code == Code.NOT_FOUND


def test_notice_refused_when_nothing_is_posted(world: World) -> None:
    with pytest.raises(Refused) as err:
        notice_issue(actor=world.cadre, village_code=VILLAGE)
    assert err.value.code == Code.NOTHING_POSTED


def test_benefits_card_lists_supports_with_amounts_and_dates(world: World) -> None:
    app = world.application_approved(world.household)
    upload_signed_agreement(actor=world.cadre, application_id=app.pk)
    pay_through_round([app], maker=world.finance, approver=world.approver)
    text = _text(benefits_card_issue(actor=world.cadre, household_id=world.household.pk))
    assert "扶贫政策明白卡" in text and "李䶮" in text and "到户产业" in text
    assert "¥5,000.00" in text and "伍仟元整" in text
    assert text.count("年") >= 2  # approval and payment dates


def test_benefits_card_is_reissued_when_supports_change(world: World) -> None:
    first = benefits_card_issue(actor=world.cadre, household_id=world.household.pk)
    world.application_approved(world.household)
    second = benefits_card_issue(actor=world.cadre, household_id=world.household.pk)
    assert second.pk != first.pk


def test_decision_letter_refused_before_any_decision(world: World) -> None:
    app = world.application_posted(world.household)

    with pytest.raises(Refused) as refused:
        decision_letter_issue(actor=world.cadre, application_id=app.pk)

    assert refused.value.code == Code.NO_DECISION
    assert not StoredDocument.objects.filter(application=app).exists()


def test_a_notice_row_never_splits_across_pages(world: World) -> None:
    # Long names wrap onto several lines: a row could split between them.
    names = [f"甲{n:02d}阿依古丽·买买提·艾尔肯·吐尔逊·阿不都乙{n:02d}" for n in range(30)]
    for n, name in enumerate(names, start=10):
        household = world.household_new(name, n, f"62170012345678{n:05d}", f"139000{n:05d}")
        world.application_posted(household, sheep=1 + n % 9)
    doc = notice_issue(actor=world.cadre, village_code=VILLAGE)

    with pdfplumber.open(io.BytesIO(document_read(doc))) as pdf:
        assert len(pdf.pages) > 1
        pages = ["".join((page.extract_text() or "").split()) for page in pdf.pages]
    for n in range(30):
        first = [i for i, text in enumerate(pages) if f"甲{n:02d}" in text]
        last = [i for i, text in enumerate(pages) if f"乙{n:02d}" in text]
        assert first and first == last, f"row {n} is split across pages {first} and {last}"
