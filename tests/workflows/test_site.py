"""One look everywhere: the document pages, the error pages and signing out all stay in the
site (its header, navigation and language switch), in Chinese."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World

pytestmark = pytest.mark.django_db
HEADER = '<header class="top">'


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.user(username))
    return client


def test_the_document_pages_have_the_sites_header(world: World) -> None:
    reviewer = client_for(world, "reviewer_t1")
    for url in (reverse("documents:batches"), reverse("documents:verify")):
        html = reviewer.get(url).content.decode()
        assert HEADER in html and 'name="language"' in html, url
    public = Client().get(reverse("documents:verify")).content.decode()
    assert HEADER in public


def test_a_page_outside_the_users_area_is_the_sites_chinese_404(world: World) -> None:
    response = client_for(world, "cadre_v1").get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert HEADER in html and "没有该页面" in html


def test_a_page_the_role_may_not_see_is_the_sites_chinese_403(world: World) -> None:
    response = client_for(world, "reviewer_t1").get(reverse("workflows:cadre_households"))

    assert response.status_code == 403
    html = response.content.decode()
    assert HEADER in html and "无权" in html


def test_signing_out_lands_on_the_sign_in_page(world: World) -> None:
    response = client_for(world, "cadre_v1").post("/accounts/logout/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"


def test_every_page_and_the_api_carry_a_content_security_policy(world: World) -> None:
    client = client_for(world, "reviewer_t1")

    for url in ("/review/queue/", "/api/v1/applications/", "/accounts/login/", "/notice/"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, url
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy

    docs = client.get("/api/v1/docs/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in docs and "script-src 'self';" in docs + ";"


def test_no_page_template_has_an_inline_script_or_style() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offending = [
        str(path.relative_to(root))
        for path in [*root.glob("*/templates/**/*.html"), *root.glob("templates/**/*.html")]
        if "documents/templates/documents/" not in str(path)  # the PDFs' own templates
        or path.name in ("page.html", "batches.html", "batch.html", "verify.html", "_slots.html")
        if re.search(
            r"<script>|<script\s+(?!src=)[^>]*>|<style|\sstyle=\"|\son[a-z]+=\"", path.read_text()
        )
    ]
    assert offending == []
