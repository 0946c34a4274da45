"""Pages at a phone's width (390 px) that were once wider than the phone: the verification
page after an upload (its hash line), the inspector's anchor check (its table) and the
township queue (its claim button)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from applications.models import Application
from documents.selectors import document_read
from documents.services.issuing import agreement_issue
from tests.browser.test_chain import _page, _sign_in, browser
from tests.factories import VILLAGE_1, load_world, upload_signed_agreement

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]
WIDTH = 390


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url


@pytest.mark.django_db(transaction=True)
def test_the_pages_once_too_wide_fit_a_phone(
    live_server: Any, flushable_ledger: None, browser: Browser, tmp_path: Path
) -> None:
    world = load_world()
    base = live_server.url
    approved = world.application(Application.Status.APPROVED, area_code=VILLAGE_1)
    upload_signed_agreement(actor=world.user("cadre_v1"), application_id=approved.pk)
    document = agreement_issue(actor=world.user("cadre_v1"), application_id=approved.pk)
    pdf = tmp_path / "协议书.pdf"
    pdf.write_bytes(document_read(document))
    waiting = world.application(Application.Status.TOWNSHIP_REVIEW, area_code=VILLAGE_1)

    public = _page(browser)
    public.goto(f"{base}/documents/verify/")
    public.set_input_files("input[name=file]", str(pdf))
    public.click("main form button[type=submit]")
    public.wait_for_load_state()
    assert public.locator("#result[data-status=genuine]").is_visible()
    _fits(public)

    inspector = _sign_in(browser, base, "inspector_a")
    inspector.goto(f"{base}/inspect/verify/")
    inspector.click("button[name=action][value=anchor]")
    inspector.wait_for_load_state()
    anchor = inspector.inner_text("pre.anchor-json")
    _fits(inspector)
    inspector.fill("textarea[name=anchor]", anchor)
    inspector.click("button[name=action][value=verify]")
    inspector.wait_for_load_state()
    assert inspector.locator("table.anchor-checks").is_visible()
    _fits(inspector)

    reviewer = _sign_in(browser, base, "reviewer_t1")
    reviewer.goto(f"{base}/review/queue/")
    row = reviewer.locator(f"tr:has(a[href='/review/applications/{waiting.pk}/'])")
    claim = row.locator("button").first
    box = claim.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
    _fits(reviewer)
