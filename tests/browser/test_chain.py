"""One application through the whole chain in a real browser (Debian's Chromium, driven by
Playwright), as five people: the village cadre, a member of the public, the township
reviewer, the county approver and the finance officer, who pays it through a payment round
and the bank's return file. A screenshot of each step goes to
``var/screenshots/chain/`` (or ``$FUPIN_SCREENSHOTS``)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright

from applications.models import Application
from approvals.models import Objection
from approvals.services.transitions import postings_close_due
from payments.models import PaymentRound
from tests.factories import (
    COUNTY,
    SIGNED_AGREEMENT_PDF,
    VILLAGE_1,
    after_posting,
    all_paid,
    load_world,
    password_of,
    return_file,
)
from workflows.selectors import process_divergences

pytestmark = [pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("FUPIN_SCREENSHOTS", settings.VAR_DIR / "screenshots" / "chain"))


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test` installs it (apt: chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def _page(browser: Browser) -> Page:
    # A phone: cadres work in the field.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _sign_in(browser: Browser, base: str, username: str) -> Page:
    page = _page(browser)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password_of(username))
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/")
    return page


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _diagram_shots(page: Page, base: str, pk: int, name: str, current: str | None) -> None:
    """The application page's process diagram, on the phone (inside its own scrolling box,
    never widening the page) and on a desktop screen."""
    page.goto(f"{base}/applications/{pk}/")
    chart = page.locator("svg.process-chart")
    assert chart.is_visible()
    marked = page.locator("svg.process-chart g[data-state=current]")
    assert [marked.nth(i).get_attribute("data-node") for i in range(marked.count())] == (
        [current] if current else []
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # On the phone every step is there in words, one under the other.
    steps = page.locator("#process-steps li")
    assert steps.count() >= 6
    for i in range(steps.count()):
        box = steps.nth(i).bounding_box()
        assert steps.nth(i).is_visible() and box is not None and box["x"] + box["width"] <= 390
    if current:  # the chart opens at the current step, without swiping
        node, frame = marked.first.bounding_box(), page.locator(".diagram-scroll").bounding_box()
        assert node is not None and frame is not None
        assert frame["x"] <= node["x"] and node["x"] + node["width"] <= frame["x"] + frame["width"]
    _shot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    hidden = page.locator("#process-steps").bounding_box()  # the chart shows it all
    assert hidden is not None and hidden["width"] <= 1
    _shot(page, f"{name}-desktop")
    page.set_viewport_size({"width": 390, "height": 844})


def confirm_dialog(page: Page, shot: str = "", *, navigates: bool = True) -> str:
    """Answer the site's confirmation dialog (``confirm.js``) with yes, and wait for the
    page the form leads to (``navigates``); the question it asked."""
    dialog = page.locator("dialog.confirm[open]")
    dialog.wait_for()
    question = dialog.locator("[data-question]").inner_text()
    if shot:
        _shot(page, shot)
    if navigates:
        with page.expect_navigation():
            dialog.locator("button[value=yes]").click()
    else:
        dialog.locator("button[value=yes]").click()
    return question


def _status(pk: int) -> str:
    return Application.objects.get(pk=pk).status


def _step(page: Page, name: str) -> None:
    # The cadre's page has one small form per step; the decision page one button per step.
    page.locator(
        f"form:has(input[name=step][value={name}]) button[type=submit], "
        f"button[name=step][value={name}]"
    ).first.click()
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
def test_chain_walked_by_five_people_in_the_browser(
    live_server: Any, flushable_ledger: None, browser: Browser, tmp_path: Path
) -> None:
    world = load_world()
    base = live_server.url
    household = world.household(VILLAGE_1, head_name="马𠮷祥")
    program = world.program_for(VILLAGE_1)

    # 1. The village cadre files the application, records the appraisal, submits, posts.
    cadre = _sign_in(browser, base, "cadre_v1")
    cadre.goto(f"{base}/cadre/households/{household.pk}/apply/?program={program.pk}")
    cadre.fill("input[name=item_pen]", "1")
    cadre.fill("input[name=item_sheep]", "10")
    assert cadre.inner_text("output[data-total]").replace(",", "") in ("5000.00", "5000")
    _shot(cadre, "01-cadre-files")
    cadre.click("form[data-amount] button[type=submit].primary")
    cadre.wait_for_url("**/cadre/applications/*/")
    pk = int(cadre.url.rstrip("/").rsplit("/", 1)[1])
    assert _status(pk) == Application.Status.DRAFT
    assert Application.objects.get(pk=pk).amount == 5000

    cadre.fill("input[name=appraisal_date]", "2026-11-01")
    cadre.fill("input[name=appraisal_attendees]", "31")
    cadre.fill("input[name=appraisal_votes_for]", "29")
    cadre.fill("input[name=appraisal_votes_against]", "1")
    cadre.click("form[action$='/appraisal/'] button[type=submit]")
    cadre.wait_for_load_state()
    _step(cadre, "submit")
    assert _status(pk) == Application.Status.SUBMITTED
    _step(cadre, "start_posting")
    assert _status(pk) == Application.Status.POSTED
    _shot(cadre, "02-cadre-posts")

    # 2. A member of the public objects on the village notice board, anonymously.
    public = _page(browser)
    public.goto(f"{base}/notice/{VILLAGE_1}/")
    assert "马𠮷祥" in public.content()
    board = public.inner_text("main")
    assert household.head_id_masked not in board
    assert not re.search(r"\d{17}[\dX]|1\d{10}|\d{16,19}", board)  # no ID, phone or card
    public.click("details summary")
    public.fill("textarea[name=text]", "该户家中有大型农机，不符合条件。")
    _shot(public, "03-public-objects")
    public.click("details form button[type=submit].primary")
    public.wait_for_load_state()
    objection = Objection.objects.get(application_id=pk)
    assert objection.status == Objection.Status.OPEN

    # 3. The township reviewer investigates and dismisses it; the window passes (the
    # posting timer runs); the reviewer approves.
    reviewer = _sign_in(browser, base, "reviewer_t1")
    reviewer.goto(f"{base}/review/applications/{pk}/")
    reviewer.fill(f"#reason-{objection.pk}", "经入户核实，农机为租用，异议不成立。")
    reviewer.click("button[name=decision][value=dismiss]")
    reviewer.wait_for_load_state()
    objection.refresh_from_db()
    assert objection.status == Objection.Status.DISMISSED
    assert _status(pk) == Application.Status.POSTED  # the window is still open

    assert postings_close_due(now=after_posting(Application.objects.get(pk=pk))) == 1
    assert _status(pk) == Application.Status.TOWNSHIP_REVIEW
    reviewer.goto(f"{base}/review/queue/")
    assert f"/review/applications/{pk}/" in reviewer.content()
    reviewer.goto(f"{base}/review/applications/{pk}/")
    _shot(reviewer, "04-township-review")
    _diagram_shots(reviewer, base, pk, "04a-process-diagram", current="township_review")
    reviewer.goto(f"{base}/review/applications/{pk}/")
    _step(reviewer, "township_approve")
    assert _status(pk) == Application.Status.COUNTY_REVIEW

    # 4. The county approver approves.
    approver = _sign_in(browser, base, "approver_a")
    approver.goto(f"{base}/review/applications/{pk}/")
    _shot(approver, "05-county-review")
    _step(approver, "county_approve")
    assert _status(pk) == Application.Status.APPROVED

    # 5. The cadre uploads the signed agreement; finance pays.
    scan = tmp_path / "协议书.pdf"
    scan.write_bytes(SIGNED_AGREEMENT_PDF)
    cadre.goto(f"{base}/cadre/applications/{pk}/")
    cadre.select_option("select[name=kind]", "signed_agreement")
    cadre.set_input_files("input[name=file]", str(scan))
    cadre.click("form[enctype='multipart/form-data'] button[type=submit]")
    cadre.wait_for_load_state()
    # 6. Finance pays through a round: it draws one up on the payments page, the county
    # approver approves it there, finance downloads the bank file and uploads the bank's
    # return file. Each irreversible button asks first.
    finance = _sign_in(browser, base, "finance_a")
    finance.goto(f"{base}/review/applications/{pk}/")
    assert "disburse" not in finance.content()  # no button pays
    assert finance.locator("[data-payment-state]").count() == 1
    finance.goto(f"{base}/payments/")
    finance.select_option("select[name=program]", str(program.pk))
    finance.select_option("select[name=area]", COUNTY)
    finance.click("#draw-up button[type=submit]")
    finance.wait_for_url("**/payments/*/")
    round_ = PaymentRound.objects.get()
    assert list(round_.lines.values_list("application_id", flat=True)) == [pk]
    _shot(finance, "06-finance-draws-up-a-round")
    approver.goto(f"{base}/payments/{round_.pk}/")
    approver.click("#approve-form button[type=submit]")
    assert "500" in confirm_dialog(approver, "06-approver-confirms")
    approver.wait_for_load_state()
    round_.refresh_from_db()
    assert round_.status == PaymentRound.Status.APPROVED
    finance.goto(f"{base}/payments/{round_.pk}/")
    with finance.expect_download() as download:
        finance.click("#first-download-form button[value=txt]")
        confirm_dialog(finance, navigates=False)
    sent = Path(download.value.path()).read_bytes()
    assert sent.decode("gb18030").startswith(f"H|{round_.reference}|")
    round_.refresh_from_db()
    returned = tmp_path / "回盘文件.txt"
    returned.write_bytes(return_file(round_, all_paid(round_)))
    finance.goto(f"{base}/payments/{round_.pk}/")
    finance.set_input_files("#upload-form input[type=file]", str(returned))
    finance.click("#upload-form button[type=submit]")
    confirm_dialog(finance)
    finance.wait_for_load_state()
    assert _status(pk) == Application.Status.DISBURSED
    _shot(finance, "06-finance-pays")

    finance.goto(f"{base}/applications/{pk}/")
    _shot(finance, "07-timeline")
    _diagram_shots(finance, base, pk, "07a-process-diagram", current=None)
    finance.click("button[name=language][value=en]")
    finance.wait_for_load_state()
    assert "Payment (finance)" in finance.inner_html("svg.process-chart")
    _diagram_shots(finance, base, pk, "07b-process-diagram-en", current=None)
    assert not list(process_divergences(Application.objects.filter(pk=pk)))

    # The cadre of another village cannot open it.
    other = _sign_in(browser, base, "cadre_v2")
    response = other.goto(f"{base}/applications/{pk}/")
    assert response is not None and response.status == 404
    response = other.goto(f"{base}/cadre/applications/{pk}/")
    assert response is not None and response.status == 404
    _shot(other, "08-other-village-refused")
