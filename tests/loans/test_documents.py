"""The loan documents as printed: the household's loan card (贷款明白卡) and the bank's
interest subsidy list (贴息清单), read back by their text and their pictures; the benefits
card shows loans apart from subsidies."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pdfplumber
import pytest
from rest_framework.test import APIClient

from common import clock
from common.errors import Forbidden, NotFound
from documents.models import StoredDocument
from documents.selectors import document_read
from documents.services.issuing import benefits_card_issue
from documents.services.loan_documents import loan_card_issue, subsidy_list_issue
from loans.models import Loan
from loans.services.servicing import loan_repay
from loans.services.subsidies import subsidy_claims_approve, subsidy_settle
from tests.factories import COUNTY, World
from tests.loans.conftest import BANK, OTHER_BANK, LoanWorld

TZ = ZoneInfo("Asia/Shanghai")
MARCH = date(2026, 3, 20)


@contextmanager
def on(day: date) -> Iterator[None]:
    with clock.frozen_at(datetime(day.year, day.month, day.day, 10, tzinfo=TZ)):
        yield


def _text(document: StoredDocument) -> str:
    with pdfplumber.open(io.BytesIO(document_read(document))) as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    return "".join(text.split())


def _drawn_in_cjk(document: StoredDocument, phrase: str) -> None:
    """Every character of ``phrase`` is in the first page's text in one of the CJK fonts,
    and the page has ink where the title is (a missing font still extracts as text)."""
    with pdfplumber.open(io.BytesIO(document_read(document))) as pdf:
        page = pdf.pages[0]
        fonts = {c["text"]: c["fontname"] for c in page.chars}
        for char in phrase:
            assert char in fonts, char
            assert "Noto" in fonts[char] or "Fupin" in fonts[char], fonts[char]
        words = [w for w in page.extract_words() if phrase[:2] in w["text"]]
        assert words, phrase
        box = (words[0]["x0"], words[0]["top"], words[0]["x1"], words[0]["bottom"])
        grey = page.crop(box).to_image(resolution=100).original.convert("L")
        assert min(grey.tobytes()) < 100, "the title draws nothing"


@pytest.fixture
def loan(loans: LoanWorld) -> Loan:
    with on(date(2026, 1, 5)):
        return loans.loan(amount="10000.00")


@pytest.mark.django_db
def test_the_loan_card_holds_the_terms_the_schedule_and_the_subsidy_rule(
    loans: LoanWorld, loan: Loan, world: World
) -> None:
    with on(date(2026, 1, 6)):
        card = loan_card_issue(actor=world.user("cadre_v1"), loan_id=loan.pk)
    text = _text(card)
    assert "扶贫小额信贷明白卡" in text
    assert loan.reference in text and loan.household.head_name in text
    assert "甘肃农信肃州区联社" in text and "养殖业" in text and "买两头牛" in text
    assert "10,000.00" in text and "壹万元整" in text
    assert "按季付息、到期还本" in text and "3%" in text and "36个月" in text
    # The first quarter's interest and the last instalment's principal.
    assert "61.67" in text and "2029年1月5日" in text
    assert "罚息一律不予贴息" in text and "70%" in text
    _drawn_in_cjk(card, "扶贫小额信贷明白卡")
    # The same loan's card is issued once; the bank's officer gets the same document.
    assert loan_card_issue(actor=loans.officer, loan_id=loan.pk).pk == card.pk
    with pytest.raises(NotFound):
        loan_card_issue(actor=loans.other_officer, loan_id=loan.pk)
    with pytest.raises(Forbidden):
        loan_card_issue(actor=world.user("inspector_a"), loan_id=loan.pk)


@pytest.mark.django_db
def test_the_subsidy_list_of_a_bank_and_settlement_day(
    loans: LoanWorld, loan: Loan, world: World
) -> None:
    with on(date(2026, 1, 5)):
        late = loans.loan()
    with on(MARCH):
        loan_repay(actor=loans.officer, loan_id=loan.pk, on=MARCH, principal="0", interest="61.67")
    with on(date(2026, 3, 21)):
        subsidy_settle(actor=world.user("finance_a"), county_code=COUNTY, period_end=MARCH)
        pending = subsidy_list_issue(
            actor=world.user("approver_a"),
            county_code=COUNTY,
            bank_code=BANK,
            period_end=MARCH,
            payee="household",
        )
        subsidy_claims_approve(actor=world.user("approver_a"), county_code=COUNTY, period_end=MARCH)
        listed = subsidy_list_issue(
            actor=world.user("approver_a"),
            county_code=COUNTY,
            bank_code=BANK,
            period_end=MARCH,
            payee="household",
        )
        with pytest.raises(NotFound):
            subsidy_list_issue(
                actor=world.user("approver_a"),
                county_code=COUNTY,
                bank_code=OTHER_BANK,
                period_end=MARCH,
            )
        with pytest.raises(Forbidden):
            subsidy_list_issue(
                actor=world.user("cadre_v1"), county_code=COUNTY, bank_code=BANK, period_end=MARCH
            )
    text = _text(listed)
    assert "扶贫小额信贷贴息资金清单" in text and "2026年3月20日" in text
    assert loan.reference in text and late.reference in text
    assert "未足额付息" in text  # the late loan's period, with its reason
    assert "贴息合计：¥61.67（人民币" in text and "陆拾壹元陆角柒分" in text
    assert "finance_a" in text and "approver_a" in text
    # Before the approval the claim was listed but not in the total the county pays.
    assert "贴息合计：¥0.00" in _text(pending) and "待审核1笔（未计入合计）" in _text(pending)
    _drawn_in_cjk(listed, "扶贫小额信贷贴息资金清单")


@pytest.mark.django_db
def test_the_benefits_card_shows_the_loan_apart_from_subsidies(
    loans: LoanWorld, loan: Loan, world: World
) -> None:
    with on(date(2026, 1, 6)):
        card = benefits_card_issue(actor=world.user("cadre_v1"), household_id=loan.household_id)
    text = _text(card)
    assert "扶贫小额信贷" in text and loan.reference in text
    # The loan is not counted as a subsidy the household received.
    assert "暂无已批准的帮扶项目" in text


@pytest.mark.django_db
def test_the_documents_api_issues_both(loans: LoanWorld, loan: Loan, world: World) -> None:
    client = APIClient()
    client.force_authenticate(loans.officer)
    made = client.post("/api/v1/documents/", {"kind": "loan_card", "loan": loan.pk})
    assert made.status_code == 201, made.json()
    assert made.json()["kind"] == "loan_card"
    missing = client.post("/api/v1/documents/", {"kind": "loan_card"})
    assert missing.status_code == 400 and "loan" in missing.json()
    client.force_authenticate(world.user("approver_a"))
    incomplete = client.post("/api/v1/documents/", {"kind": "subsidy_list", "bank": BANK})
    assert incomplete.status_code == 400
    assert set(incomplete.json()) == {"county", "period_end"}
