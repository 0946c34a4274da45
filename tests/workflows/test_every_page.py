"""Every page of every role, reached by the site's own links from the home page on the demo
county, rendered in Chinese (issue 13, items 8 and 9): no page fails, every page has the
site's header, and nothing is left in English (a leftover msgid, a code shown raw). The
same walk runs in Chromium at two widths and in both languages (tests/browser/test_walk.py).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.demo.test_seed import seeded
from tests.pages import LATIN_ALLOWED, ROLES, untranslated, walk

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
__all__ = ["seeded"]


def _client(username: str | None) -> Client:
    client = Client()
    client.cookies["django_language"] = "zh-hans"
    if username:
        client.force_login(get_user_model().objects.get(username=username))
    return client


def test_every_page_of_every_role_is_whole_and_in_chinese(seeded: str, settings: object) -> None:
    problems: list[str] = []
    pages = 0
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    for username in ROLES:
        start = "/" if username else "/notice/"
        for page in walk(_client(username), start):
            pages += 1
            where = f"{username or 'public'} {page.url}"
            if page.status != 200:
                problems.append(f"{where}: HTTP {page.status}")
            if page.html and not page.header:
                problems.append(f"{where}: no site header")
            left = untranslated(page.text, usernames)
            if left:
                problems.append(f"{where}: in English: {sorted(set(left))[:6]}")
    assert pages > 150
    assert problems == []


def test_the_admin_speaks_chinese(seeded: str) -> None:
    client = _client("admin")
    from tests.pages import read

    html = client.get("/admin/").content.decode()
    page, links = read("/admin/", 200, html)

    # The admin's own apps and models (and the users' names, in its recent actions).
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    assert untranslated(page.text, usernames) == []
    for href in sorted({h for h in links if h.startswith("/admin/") and h.count("/") == 3}):
        app_page, _links = read(href, 200, client.get(href).content.decode())
        assert untranslated(app_page.text, usernames) == [], href


def test_the_check_finds_english_it_should() -> None:
    assert untranslated("审批 Process list 通过") == ["Process list"]
    assert untranslated("审批Process list通过") == ["Process list"]
    assert untranslated("还款方式：interest_only") == ["interest_only"]
    assert untranslated("cadre_sibacun 提交", {"cadre_sibacun"}) == []
    assert untranslated("application.close_posting · /loans/1/") == []
    assert untranslated("领取任务 NEW → ASSIGNED") == ["NEW", "ASSIGNED"]
    assert untranslated("下载 PDF · SHA-256 · English") == []
    assert "PDF" in LATIN_ALLOWED
