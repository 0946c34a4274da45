"""HTML and CSS to PDF bytes. The only module that imports WeasyPrint (an untyped library
kept at the edge), and the one that knows which fonts the documents need.

Output is deterministic: the same HTML gives the same bytes. WeasyPrint writes no dates
unless the document names them (``dcterms.created`` / ``dcterms.modified`` meta tags, set
from the issue time by the templates), and the PDF file identifier is derived from the
HTML instead of being random.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess  # noqa: S404 -- fc-list with fixed arguments, no shell
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.template.loader import render_to_string

# Serif for body text (official documents are set in 宋体-like faces), sans for headings.
# HanaMin A/B come last: they cover CJK Extension A and B (rare characters in names, e.g.
# 䶮 U+4DAE, 𠮷 U+20BB7, 𪚥 U+2A6A5) where Noto CJK stops.
SERIF_STACK = '"Noto Serif CJK SC", "Noto Sans CJK SC", "HanaMinA", "HanaMinB", serif'
SANS_STACK = '"Noto Sans CJK SC", "Noto Serif CJK SC", "HanaMinA", "HanaMinB", sans-serif'


@dataclass(frozen=True)
class RequiredFont:
    family: str
    package: str  # the Debian package that installs it
    purpose: str


REQUIRED_FONTS = (
    RequiredFont("Noto Sans CJK SC", "fonts-noto-cjk", "Chinese text (sans)"),
    RequiredFont("Noto Serif CJK SC", "fonts-noto-cjk", "Chinese text (serif)"),
    RequiredFont("HanaMinA", "fonts-hanazono", "rare name characters, CJK Extension A"),
    RequiredFont("HanaMinB", "fonts-hanazono", "rare name characters, CJK Extension B"),
)
# A character from each range that must be covered by some installed font.
REQUIRED_COVERAGE = (
    ("\u4e2d", "CJK Unified Ideographs", "fonts-noto-cjk"),
    ("\u4dae", "CJK Extension A", "fonts-hanazono"),
    ("\U00020bb7", "CJK Extension B", "fonts-hanazono"),
    ("\U0002a6a5", "CJK Extension B", "fonts-hanazono"),
)


@dataclass(frozen=True)
class Problem:
    code: str  # stable id for the system check, e.g. "W004"
    message: str
    hint: str


def _fc_list(pattern: str) -> set[str] | None:
    """Families matching a fontconfig pattern, or None when fc-list is not installed."""
    exe = shutil.which("fc-list")
    if exe is None:
        return None
    out = subprocess.run(  # noqa: S603 -- fixed executable and arguments
        [exe, pattern, "family"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    families: set[str] = set()
    for line in out.splitlines():
        families.update(name.strip() for name in line.split(","))
    return families


def environment_problems() -> list[Problem]:
    """What is missing for Chinese PDFs: WeasyPrint's libraries, HarfBuzz subsetting (without
    it rendering is about ten times slower), the fonts and their coverage."""
    problems: list[Problem] = []
    try:
        from weasyprint.text import ffi
    except OSError as exc:  # Pango or another shared library is missing
        return [
            Problem(
                "W001",
                f"WeasyPrint cannot load its libraries: {exc}",
                "Install Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0",
            )
        ]
    if getattr(ffi, "harfbuzz_subset", None) is None:
        problems.append(
            Problem(
                "W002",
                "libharfbuzz-subset is missing: fonts are embedded whole and rendering is "
                "about ten times slower.",
                "apt-get install libharfbuzz-subset0 (make bootstrap does this)",
            )
        )
    installed = _fc_list(":")
    if installed is None:
        problems.append(
            Problem(
                "W003",
                "fc-list is not installed, so the CJK fonts cannot be checked.",
                "apt-get install fontconfig",
            )
        )
        return problems
    for font in REQUIRED_FONTS:
        if font.family not in installed:
            problems.append(
                Problem(
                    "W004",
                    f'Font "{font.family}" ({font.purpose}) is not installed: such text '
                    "would print as empty boxes.",
                    f"apt-get install {font.package} (make bootstrap does this)",
                )
            )
    for char, block, package in REQUIRED_COVERAGE:
        covering = _fc_list(f":charset={ord(char):x}")
        if not covering:
            problems.append(
                Problem(
                    "W005",
                    f"No installed font has {char} (U+{ord(char):04X}, {block}).",
                    f"apt-get install {package} (make bootstrap does this)",
                )
            )
    return problems


def qr_svg_data_uri(text: str) -> str:
    """A QR code as an SVG data URI (vector: sharp on any printer, no image library)."""
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def html_to_pdf(html: str) -> bytes:
    """Render HTML (with its CSS inline) to PDF bytes, identical for identical HTML."""
    from weasyprint import HTML

    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    pdf: bytes = HTML(string=html, base_url=None).write_pdf(
        pdf_identifier=identifier, uncompressed_pdf=False
    )
    return pdf


def template_to_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """Render a Django template (``documents/*.html``) to PDF. The context is given the font
    stacks so that every template uses the same fallbacks."""
    html = render_to_string(
        template_name, {"serif_stack": SERIF_STACK, "sans_stack": SANS_STACK, **context}
    )
    return html_to_pdf(html)
