"""The walk of issue 13: every role of the demo county, every page the site's links reach,
in Chromium at a phone's width (390 px) and a desk's (1,280 px), in Chinese and in English.
It fails on:

- a page wider than the window (outside the boxes meant to scroll sideways);
- anything left in English on a Chinese page;
- a page without the site's header;
- a content security policy violation (an inline script or style, a foreign source);
- any answer but 200 (the walk follows the site's own links: a 4xx is a broken link).

It seeds the demo (about 20 s) and opens about 200 pages (194 on the demo county, counted
with ``tests.pages.walk``), in each language: about two minutes, so it is not
in ``make test``; ``make walk`` runs it, and ``.ci/run`` calls that. Screenshots of a few
pages go to ``var/screenshots/walk/`` (the README shows some)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page

from applications.models import Application, Household, Program
from demo.seed import DEMO_PASSWORD
from demo.world import SUBSIDY_CODE
from tests.browser.test_chain import browser
from tests.pages import ROLES, read, shape, untranslated, walk

pytestmark = [pytest.mark.browser, pytest.mark.walk]
__all__ = ["browser"]

SHOTS = Path(os.environ.get("FUPIN_SCREENSHOTS", settings.VAR_DIR / "screenshots" / "walk"))
WIDTHS = (390, 1280)
# Collects what the content security policy refuses on a page (read after it loads).
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
# Pages the links do not reach, opened too: the admin and the API's documents (which keep
# their own look: only the policy is checked there).
EXTRA = {"admin": ["/admin/", "/admin/applications/application/", "/api/v1/docs/"]}
OUTSIDE_THE_SITES_LOOK = ("/admin/", "/admin/applications/application/", "/api/v1/docs/")
# Pages worth a picture (role, page's shape: name), the first of each shape; the README
# shows some of them.
SHOTS_OF = {
    ("reviewer_quanhu", "/review/queue/"): "queue",
    ("cadre_sibacun", "/cadre/"): "cadre-village",
    ("approver", "/"): "home",
    ("approver", "/review/applications/N/"): "decide",
    ("finance", "/payments/N/"): "payment-round",
}


def _urls(username: str | None) -> list[str]:
    """The pages of a role, two of each shape, found by walking the site's links."""
    client = Client()
    if username:
        client.force_login(get_user_model().objects.get(username=username))
    start = "/" if username else "/notice/"
    found = [page.url for page in walk(client, start, per_shape=2) if page.html]
    return found + EXTRA.get(username or "", []) + _status_pages(username)


def _status_pages(username: str | None) -> list[str]:
    """The exit's and the return's pages of the cadre's village, which two pages of a shape
    may miss: an exited household's page (its risk signal offered) and the risk form, and
    the return proposal waiting for the county."""
    if username != "cadre_sibacun":
        return []
    exited = (
        Household.objects.filter(area_code="620902100200", status=Household.Status.EXITED)
        .exclude(applications__program__kind=Program.Kind.RETURN)
        .order_by("pk")
        .first()
    )
    proposal = (
        Application.objects.filter(area_code="620902100200", program__kind=Program.Kind.RETURN)
        .order_by("pk")
        .first()
    )
    pages = []
    if exited is not None:
        pages += [f"/cadre/households/{exited.pk}/", f"/cadre/households/{exited.pk}/return/"]
    if proposal is not None:
        pages.append(f"/cadre/applications/{proposal.pk}/")
    assert pages, "the demo's 四坝村 has no exit or return to walk"
    return pages


def _context(browser: Browser, base: str, username: str | None, language: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 844})
    context.add_init_script(CSP_LISTENER)
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    if username:
        page = context.new_page()
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{base}/")
        page.close()
    return context


def _check(page: Page, where: str, language: str, usernames: set[str]) -> list[str]:
    problems = [f"{where}: CSP refused {v}" for v in page.evaluate("window.__csp || []")]
    if page.url.split("?")[0].endswith(OUTSIDE_THE_SITES_LOOK):
        return problems
    if page.locator("header.top").count() != 1:
        problems.append(f"{where}: no site header")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > width:
            problems.append(f"{where}: {wide} px wide at {width} px")
    page.set_viewport_size({"width": WIDTHS[0], "height": 844})
    if language == "zh-hans":
        left = untranslated(read(page.url, 200, page.content())[0].text, usernames)
        if left:
            problems.append(f"{where}: in English: {sorted(set(left))[:6]}")
    return problems


@pytest.mark.django_db(transaction=True)
def test_every_page_of_every_role_at_two_widths_in_two_languages(
    live_server: Any, flushable_ledger: None, browser: Browser
) -> None:
    Program.objects.filter(code=SUBSIDY_CODE).update(code="tests-" + SUBSIDY_CODE)
    call_command("seed_demo", stdout=io.StringIO())
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    opened = 0
    wanted = dict(SHOTS_OF)
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    for username in ROLES:
        urls = _urls(username)
        for language in ("zh-hans", "en"):
            context = _context(browser, base, username, language)
            page = context.new_page()
            page.set_default_timeout(15_000)
            for url in urls:
                where = f"{username or 'public'} {language} {url}"
                response = page.goto(base + url)
                opened += 1
                if response is None or response.status != 200:
                    problems.append(f"{where}: HTTP {response.status if response else '-'}")
                    continue
                problems += _check(page, where, language, usernames)
                shot = wanted.pop((username or "", shape(url)), None)
                if shot and language == "zh-hans":
                    page.screenshot(path=str(SHOTS / f"{shot}-phone.png"), full_page=True)
                    page.set_viewport_size({"width": 1280, "height": 900})
                    page.screenshot(path=str(SHOTS / f"{shot}-desktop.png"))
                    page.set_viewport_size({"width": WIDTHS[0], "height": 844})
            context.close()
    assert opened > 200
    assert problems == [], "\n".join(problems)
