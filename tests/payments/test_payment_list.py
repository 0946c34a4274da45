"""The payment list (发放清册): a real PDF of a round for signing, read back by its text and
its picture; issued once per state of the list; refused before approval, to inspectors and
outside the area; from the round page and the API."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pdfplumber
import pytest
from django.test import Client
from rest_framework.test import APIClient

from applications import idnumbers
from common.errors import Code, Forbidden, NotFound, Refused
from documents.models import StoredDocument
from documents.selectors import document_read
from documents.services.issuing import payment_list_issue
from payments.services.bank_files import bank_return_import
from payments.services.rounds import payment_round_create
from tests.factories import COUNTY, World
from tests.payments.test_services import payable, return_file, sent_round

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def _pdf(data: bytes) -> tuple[str, list[str], bytes]:
    """The text without whitespace, the fonts of the characters, and page 1 as grey pixels."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
        fonts = sorted({c["fontname"] for page in pdf.pages for c in page.chars})
        picture = pdf.pages[0].to_image(resolution=50).original.convert("L").tobytes()
    return "".join(text.split()), fonts, bytes(picture)


def test_the_payment_list_shows_every_line_masked_with_totals_and_signatures(
    world: World,
) -> None:
    round_, apps = sent_round(world, 2)
    lines = list(round_.lines.order_by("reference"))

    doc = payment_list_issue(actor=world.user("finance_a"), round_id=round_.pk)
    text, fonts, picture = _pdf(document_read(doc))

    assert doc.kind == StoredDocument.Kind.PAYMENT_LIST
    assert "到户产业扶持资金发放清册" in text
    assert round_.reference in text and round_.list_sha256 in text
    for line in lines:
        assert line.payee_name in text
        assert line.card_masked.replace(" ", "") in text
        assert idnumbers.decrypt(line.card_cipher) not in text  # never the full card
    total = sum((a.amount for a in apps), Decimal("0"))
    assert f"{total:,.2f}" in text
    assert "编制人" in text and "finance_a" in text and "approver_a" in text
    assert doc.verification_code in text
    # Drawn with the document fonts (not boxes): the page has ink, the glyphs are CJK fonts.
    assert all("notdef" not in f.lower() for f in fonts)
    assert any("Fupin" in f or "Noto" in f for f in fonts), fonts
    assert sum(1 for p in picture if p < 128) > 2000


def test_the_list_is_issued_once_per_state_and_shows_the_banks_answers(world: World) -> None:
    round_, _apps = sent_round(world, 2)
    finance = world.user("finance_a")
    first = payment_list_issue(actor=finance, round_id=round_.pk)
    again = payment_list_issue(actor=finance, round_id=round_.pk)
    paid, failed = round_.lines.order_by("reference")
    bank_return_import(
        actor=finance,
        round_id=round_.pk,
        data=return_file(
            round_,
            {
                paid.reference: ("0000", "成功", None),
                failed.reference: ("3001", "账户已销户", None),
            },
        ),
    )

    answered = payment_list_issue(actor=finance, round_id=round_.pk)
    text, _fonts, _picture = _pdf(document_read(answered))

    assert again.pk == first.pk
    assert answered.pk != first.pk
    assert "已拨付" in text and "失败：账户已销户" in text


def test_the_list_is_refused_before_approval_to_inspectors_and_outside_the_area(
    world: World,
) -> None:
    payable(world, 1)
    draft = payment_round_create(
        actor=world.user("finance_a"), program_id=world.program.pk, area_code=COUNTY
    )

    with pytest.raises(Refused) as early:
        payment_list_issue(actor=world.user("finance_a"), round_id=draft.pk)
    with pytest.raises(Forbidden) as inspector:
        payment_list_issue(actor=world.user("inspector_a"), round_id=draft.pk)
    with pytest.raises(NotFound):
        payment_list_issue(actor=world.user("finance_b"), round_id=draft.pk)

    assert early.value.code == Code.WRONG_STATE
    assert inspector.value.code == Code.ROLE
    assert not StoredDocument.objects.exists()


def test_the_list_from_the_round_page_and_the_api(world: World, api: Any) -> None:
    round_, _apps = sent_round(world, 1)
    finance = Client()
    finance.force_login(world.user("finance_a"))
    inspector = Client()
    inspector.force_login(world.user("inspector_a"))

    page = finance.get(f"/payments/{round_.pk}/")
    pdf = finance.post(f"/documents/payment-rounds/{round_.pk}/list/")
    read_only = inspector.get(f"/payments/{round_.pk}/")
    client: APIClient = api("approver_a")
    issued = client.post(
        "/api/v1/documents/", {"kind": "payment_list", "round": round_.pk}, format="json"
    )

    assert 'id="payment-list-form"' in page.content.decode()
    assert 'id="payment-list-form"' not in read_only.content.decode()
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]
    assert issued.status_code == 201, issued.content
    assert issued.json()["kind"] == "payment_list"
    # The inspector reads the issued list through the documents API.
    listed = api("inspector_a").get("/api/v1/documents/?kind=payment_list").json()
    assert [d["id"] for d in listed["results"]] == [issued.json()["id"]]
