"""A microloan in a real browser, on a phone: the village cadre files it with the repayments
beside the form, and the bank's loan officer grants it, uploads the signed contract, draws it
down and records a repayment, every page within the phone's width. Screenshots go to
``var/screenshots/loans/`` (or ``$FUPIN_SCREENSHOTS``)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page

from applications.models import Application
from loans.models import Loan
from tests.browser.test_chain import _sign_in, browser, confirm_dialog
from tests.factories import SIGNED_AGREEMENT_PDF, load_world, record_appraisal
from tests.loans.conftest import make_loan_world

pytestmark = [pytest.mark.browser]
SHOTS = Path(os.environ.get("FUPIN_SCREENSHOTS", settings.VAR_DIR / "screenshots" / "loans"))
__all__ = ["browser"]  # the fixture, shared with the chain's walk


def _fits(page: Page, name: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_loan_filed_granted_drawn_and_repaid_in_the_browser(
    live_server: Any, flushable_ledger: None, browser: Browser, tmp_path: Path
) -> None:
    world = load_world()
    loans = make_loan_world(world)
    base = live_server.url
    household = loans.household(head_name="毛汉春")

    cadre = _sign_in(browser, base, "cadre_v1")
    cadre.goto(f"{base}/loans/households/{household.pk}/apply/")
    cadre.fill("#id_amount", "20000")
    cadre.fill("#id_months", "36")
    cadre.select_option("#id_purpose_category", "livestock")
    cadre.fill("#id_purpose", "调引两头母牛")
    cadre.select_option("#id_bank", "gsnx-suzhou")
    cadre.click("button[name=preview]")
    cadre.wait_for_load_state()
    assert cadre.locator("#totals").is_visible()
    assert cadre.locator("table.schedule tbody tr").count() == 13
    _fits(cadre, "01-cadre-files-with-the-repayments")
    cadre.click("button[name=file]")
    cadre.wait_for_url("**/cadre/applications/*/")
    pk = int(cadre.url.rstrip("/").rsplit("/", 1)[1])
    assert "调引两头母牛" in cadre.inner_text("#loan-request")
    _fits(cadre, "02-cadre-application")

    # The head of the chain as for subsidies (walked by the browser in test_chain).
    record_appraisal(actor=world.user("cadre_v1"), application_id=pk)
    world.walk(Application.objects.get(pk=pk), Application.Status.APPROVED)

    bank = _sign_in(browser, base, "xindai")
    bank.goto(f"{base}/loans/bank/")
    _fits(bank, "03-bank-desk")
    bank.click(f"a[href='/loans/bank/applications/{pk}/']")
    bank.fill("#id_annual_rate", "3")
    bank.click("#approve button[type=submit]")
    bank.wait_for_load_state()
    assert Application.objects.get(pk=pk).status == Application.Status.BANK_APPROVED
    contract = tmp_path / "借款合同.pdf"
    contract.write_bytes(SIGNED_AGREEMENT_PDF)
    bank.set_input_files("#id_file", str(contract))
    bank.click("#contract button[type=submit]")
    bank.wait_for_load_state()
    _fits(bank, "04-bank-grants-and-uploads")
    bank.click("#drawdown button[type=submit]")
    confirm_dialog(bank)
    bank.wait_for_url(f"**/loans/{pk}/")
    loan = Loan.objects.get(pk=pk)
    assert (loan.principal, loan.status) == (Decimal("20000.00"), Loan.Status.ACTIVE)
    bank.fill("#id_principal", "1000")
    bank.click("#repay button[type=submit]")
    confirm_dialog(bank)
    bank.wait_for_load_state()
    assert "19000.00" in bank.inner_text("#outstanding")
    _fits(bank, "05-loan-page-after-a-repayment")
