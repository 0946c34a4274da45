"""Walking the site as a user: every page reachable by links from the home page, and what a
page must be (the site's header, nothing left in English in the Chinese interface). Used by
the page walk on the test client (``tests/workflows/test_every_page.py``) and in Chromium
(``tests/browser/test_walk.py``)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from django.test import Client

# The demo's users the walks sign in as, one of each kind, and the public (None).
ROLES = (
    "cadre_sibacun",
    "reviewer_quanhu",
    "approver",
    "finance",
    "inspector",
    "xindai_gsnx",
    "admin",
    None,
)

# Links the walk does not follow: files (downloads, exports), the admin, the API and its
# documents, leaving (sign out), and the language switch (a POST anyway).
SKIP = re.compile(
    r"^/(admin|api|static|media|accounts/logout)/|/download/|/export|\.(pdf|zip|csv|xlsx|txt)$"
    r"|/bank-file/|/documents/verify/[A-Z2-7]{10}/$"
)
# The same page for another object: a path with its numbers replaced, and the names of its
# query parameters. The walk opens at most ``per_shape`` pages of each shape.
_NUMBER = re.compile(r"\d+")


def shape(url: str) -> str:
    parts = urlsplit(url)
    keys = sorted({kv.split("=", 1)[0] for kv in parts.query.split("&") if kv})
    return _NUMBER.sub("N", parts.path) + ("?" + "&".join(keys) if keys else "")


# Not read as the page's words: code, and data shown as it is stored (the ledger's JSON, a
# file's lines), in ``pre`` and ``code``.
HIDDEN_TAGS = ("script", "style", "template", "svg", "pre", "code")


class _Page(HTMLParser):
    """The links of a page, its visible text, and whether it has the site's header."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []
        self.header = False
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in HIDDEN_TAGS:
            self._hidden += 1
        if tag == "header" and "top" in (values.get("class") or "").split():
            self.header = True
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        if self._hidden:
            return
        for name in ("title", "aria-label", "placeholder", "alt", "value"):
            value = values.get(name)
            if value and (
                name != "value" or (tag == "input" and values.get("type") in ("submit", "button"))
            ):
                self.text.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


@dataclass(frozen=True)
class Visited:
    """A page the walk opened (``html`` empty: a file, such as an attachment)."""

    url: str
    status: int
    header: bool
    text: str
    html: str


def read(url: str, status: int, html: str) -> tuple[Visited, list[str]]:
    page = _Page()
    page.feed(html)
    return Visited(url, status, page.header, " ".join(page.text), html), page.links


def walk(
    client: Client, start: str = "/", *, per_shape: int = 2, limit: int = 400
) -> Iterator[Visited]:
    """Every page reachable from ``start`` by the site's own links (GET), breadth first."""
    queue, seen = [start], {start}
    shapes: dict[str, int] = {}
    while queue and limit > 0:
        url = queue.pop(0)
        response = client.get(url)
        limit -= 1
        if response.status_code in (301, 302):
            continue
        html = response.content.decode() if "html" in response.get("Content-Type", "") else ""
        visited, links = read(url, response.status_code, html)
        yield visited
        for href in links:
            target = urldefrag(urljoin(url, href))[0]
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "testserver":
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if not parts.path.startswith("/") or SKIP.search(parts.path) or target in seen:
                continue
            key = shape(target)
            if shapes.get(key, 0) >= per_shape:
                continue
            shapes[key] = shapes.get(key, 0) + 1
            seen.add(target)
            queue.append(target)


# What may stay in Latin letters in the Chinese interface: names of formats and standards,
# the language switch, and the demo's own words (usernames, the bank's code).
LATIN_ALLOWED = {
    "English",
    "PDF",
    "ZIP",
    "CSV",
    "TXT",
    "XLSX",
    "Excel",
    "SHA",
    "QR",
    "ID",
    "API",
    "JSON",
    "HTTP",
    "HTTPS",
    "URL",
    "OK",
    "GB",
    "MB",
    "KB",
    "JPEG",
    "PNG",
    "Playwright",
    "Chromium",
    "UTC",
    "LPR",
    "admin",
    "approver",
    "finance",
    "inspector",
    "gsnx",
    "suzhou",
    "xindai",
    "reviewer",
    "cadre",
    "quanhu",
    "dongdong",
    "probe",
    "root",
    "test",
    "yuan",
}
# A run of Latin letters (codes with underscores included), whatever stands next to it but
# another Latin letter, a digit or a URL's or an address's marks: English glued to Chinese
# is found too. Dotted audit codes (``application.close_posting``) and paths are not words.
_LATIN = re.compile(
    r"(?<![A-Za-z0-9_@/.:-])[A-Za-z][A-Za-z_'’]*(?:[ -][A-Za-z][A-Za-z_'’]*)*(?![A-Za-z0-9_@/.:-])"
)


def untranslated(text: str, allowed: Collection[str] = ()) -> list[str]:
    """Latin-letter words or phrases in a Chinese page's visible text that are not
    allowed (``LATIN_ALLOWED``, and ``allowed``: the users' names, say): something left in
    English, or a code shown raw."""
    found = []
    for match in _LATIN.finditer(text):
        phrase = match.group(0)
        if phrase in allowed:
            continue
        words = re.split(r"[ -]", phrase)
        if all(w in LATIN_ALLOWED or w.lower() in LATIN_ALLOWED or w in allowed for w in words):
            continue
        found.append(phrase)
    return found
