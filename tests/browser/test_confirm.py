"""The one confirmation dialog in a real browser: cancelling it does nothing, confirming
it acts; and without JavaScript the confirmation page does the same."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from applications.models import Application
from tests.browser.test_chain import _sign_in, browser, confirm_dialog
from tests.factories import VILLAGE_1, load_world, password_of

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]
S = Application.Status


@pytest.mark.django_db(transaction=True)
def test_reject_asks_in_the_dialog_and_on_a_page_without_javascript(
    live_server: Any, flushable_ledger: None, browser: Browser
) -> None:
    world = load_world()
    base = live_server.url
    first = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)
    second = world.application(S.TOWNSHIP_REVIEW, area_code=VILLAGE_1)

    reviewer = _sign_in(browser, base, "reviewer_t1")
    reviewer.goto(f"{base}/review/applications/{first.pk}/")
    reviewer.fill("#reason", "家庭收入超过标准")
    reviewer.click("button[name=step][value=reject]")
    dialog = reviewer.locator("dialog.confirm[open]")
    dialog.wait_for()
    assert "无法恢复" in dialog.inner_text()
    dialog.locator("button[value=no]").click()
    reviewer.locator("dialog.confirm").wait_for(state="detached")
    assert Application.objects.get(pk=first.pk).status == S.TOWNSHIP_REVIEW

    reviewer.click("button[name=step][value=reject]")
    confirm_dialog(reviewer)
    assert Application.objects.get(pk=first.pk).status == S.REJECTED

    # Without JavaScript: the confirmation page, then the same step.
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", java_script_enabled=False
    )
    plain = context.new_page()
    plain.goto(f"{base}/accounts/login/")
    plain.fill("#id_username", "reviewer_t1")
    plain.fill("#id_password", password_of("reviewer_t1"))
    plain.click("button[type=submit].primary")
    plain.goto(f"{base}/review/applications/{second.pk}/")
    plain.fill("#reason", "家庭收入超过标准")
    plain.click("button[name=step][value=reject]")
    plain.wait_for_load_state()
    assert "无法恢复" in plain.inner_text("#confirm-question")
    assert Application.objects.get(pk=second.pk).status == S.TOWNSHIP_REVIEW
    assert plain.evaluate("document.documentElement.scrollWidth") <= 390
    plain.click("#confirm-page button[type=submit].primary")
    plain.wait_for_load_state()
    assert Application.objects.get(pk=second.pk).status == S.REJECTED
    context.close()
