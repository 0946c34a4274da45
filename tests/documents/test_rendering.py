"""Fonts and determinism. These tests fail (not skip) on a machine without CJK fonts."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from typing import Any

import pdfplumber
import pytest
from django.conf import settings
from pdfminer.pdftypes import PDFStream
from pypdf import PdfReader

from documents import rendering
from documents.apps import check_pdf_environment

RARE = ("\u4dae", "\U00020bb7", "\U0002a6a5")  # 䶮 (Ext A), 𠮷 and 𪚥 (Ext B)
MISSING = "\U000e01ef"  # a variation selector no font draws: the missing-glyph reference


def _page(text: str) -> str:
    return (
        '<html lang="zh-CN"><head><meta charset="utf-8"><style>'
        f"@page {{ size: 60mm 40mm; margin: 5mm }} body {{ font-family: {rendering.SERIF_STACK};"
        f" font-size: 60pt; line-height: 1 }}</style></head><body>{text}</body></html>"
    )


def _raster(pdf: bytes) -> bytes:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        image = doc.pages[0].to_image(resolution=72).original.convert("L")
    return bytes(image.tobytes())


def test_cjk_font_is_installed() -> None:
    fc_match = shutil.which("fc-match")
    assert fc_match is not None, "fontconfig (fc-match) is not installed"
    family = subprocess.run(  # noqa: S603
        [fc_match, "-f", "%{family}", ":lang=zh-cn"], capture_output=True, text=True, check=True
    ).stdout
    assert "CJK" in family or "Hana" in family, f"no CJK font: fc-match gives {family!r}"


def test_environment_check_reports_no_problem_here() -> None:
    assert check_pdf_environment() == []


def test_rare_name_characters_are_drawn_not_tofu() -> None:
    tofu = _raster(rendering.html_to_pdf(_page("\u4e00" + MISSING)))
    for char in RARE:
        pdf = rendering.html_to_pdf(_page("\u4e00" + char))
        with pdfplumber.open(io.BytesIO(pdf)) as doc:
            chars = [c for c in doc.pages[0].chars if c["text"] == char]
        assert chars, f"U+{ord(char):X} is not in the PDF text"
        fontname = chars[0]["fontname"]
        # Drawn by one of the CJK fonts of the stack, not by whatever font had a box for it.
        assert "notdef" not in fontname.lower()
        assert "Noto" in fontname or "HanaMin" in fontname, fontname
        image = _raster(pdf)
        assert image != tofu, f"U+{ord(char):X} is drawn as the missing-glyph box"
        assert min(image) < 128, f"U+{ord(char):X} draws nothing"


def test_same_html_renders_byte_identical_pdf() -> None:
    html = _page("李䶮 伍仟元整")
    assert rendering.html_to_pdf(html) == rendering.html_to_pdf(html)


def test_template_renders_byte_identical_pdf() -> None:
    context = {
        "title": "测试",
        "verification_code": "ABCDEFGHIJ",
        "verification_url": "https://example.org/documents/verify/ABCDEFGHIJ/",
        "qr": rendering.qr_data_uri("https://example.org/documents/verify/ABCDEFGHIJ/"),
        "issued_at_iso": "2025-03-01T08:00:00+00:00",
        "issued_on": "2025年3月1日",
    }
    first = rendering.template_to_pdf("documents/base.html", context)
    assert first == rendering.template_to_pdf("documents/base.html", context)
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None
    # The issue time from the context, not the time of rendering.
    assert str(metadata["/CreationDate"]).startswith("D:20250301080000")


def test_font_subset_arrays_are_built_without_parsing_c() -> None:
    from weasyprint.text.ffi import ffi

    assert rendering._cffi_array_types_install()
    item = ffi.typeof("hb_codepoint_t")
    parse = ffi._parser.parse_type
    calls: list[str] = []

    def counting(cdecl: str) -> object:
        calls.append(cdecl)
        return parse(cdecl)

    ffi._parser.parse_type = counting
    try:
        array = ffi.typeof("hb_codepoint_t[4321]")
        pointer = ffi.typeof("hb_codepoint_t *")  # anything else still goes to the parser
    finally:
        del ffi._parser.parse_type
    assert calls == ["hb_codepoint_t *"]
    assert (array.kind, array.length, array.item) == ("array", 4321, item)
    assert ffi.sizeof(array) == 4321 * ffi.sizeof(item)
    assert pointer.kind == "pointer"
    values = ffi.new("hb_codepoint_t[3]", [7, 8, 9])
    assert list(values) == [7, 8, 9]


def test_documents_with_different_text_render_without_parsing_c() -> None:
    from weasyprint.text.ffi import ffi

    rendering.html_to_pdf(_page("伍"))  # the item types are parsed once, here
    parse = ffi._parser.parse_type
    calls: list[str] = []

    def counting(cdecl: str) -> object:
        calls.append(cdecl)
        return parse(cdecl)

    ffi._parser.parse_type = counting
    try:
        for text in ("李䶮", "伍仟元整", "王建国 叁仟贰佰元"):
            rendering.html_to_pdf(_page(text))
    finally:
        del ffi._parser.parse_type
    assert calls == []


def test_pdf_streams_are_compressed_at_level_six() -> None:
    import zlib

    import pydyf  # type: ignore[import-untyped]

    assert rendering._pdf_compression_install()
    assert isinstance(pydyf.zlib, rendering._Zlib)
    pdf = rendering.html_to_pdf(_page("李䶮"))
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert "李䶮" in (doc.pages[0].extract_text() or "")
        streams: list[Any] = [
            doc.doc.getobj(objid)
            for xref in doc.doc.xrefs
            for objid in xref.get_objids()
            if isinstance(doc.doc.getobj(objid), PDFStream)
        ]
    fonts = [s for s in streams if str(s.attrs.get("Subtype")) == "/'OpenType'"]
    assert fonts, "no embedded font stream"
    for stream in fonts:
        raw = stream.rawdata
        assert raw == zlib.compress(zlib.decompress(raw), rendering.PDF_COMPRESSION_LEVEL)
        assert raw != zlib.compress(zlib.decompress(raw), 9)


def _agreement_pages(items: int) -> int:
    url = "https://example.org/documents/verify/ABCDEFGHIJ/"
    context = {
        "app": {"pk": 12345},
        "household": {"head_name": "王建国", "head_id_masked": "620902********1234"},
        "places": {"county": "肃州区", "township": "银达镇", "village": "明沙窝村"},
        "program": {"name": "到户产业扶持"},
        "policy_reference": "《肃州区精准扶贫到户产业扶持政策实施办法》",
        "items": [
            {
                "name": f"项目{i}",
                "quantity": 1,
                "unit": "个",
                "unit_amount": "100.00",
                "amount": "100.00",
            }
            for i in range(items)
        ],
        "amount_figures": "¥5,000.00",
        "amount_words": "伍仟元整",
        "approved_on": "2026年11月23日",
        "party_a": "银达镇人民政府",
        "title": "到户产业帮扶协议书",
        "verification_code": "ABCDEFGHIJ",
        "verification_url": url,
        "qr": rendering.qr_data_uri(url),
        "issued_at_iso": "2026-11-23T10:00:00+08:00",
        "issued_on": "2026年11月23日",
    }
    pdf = rendering.template_to_pdf("documents/agreement.html", context)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def test_agreement_fits_one_page_up_to_four_items() -> None:
    assert _agreement_pages(4) == 1
    # And a longer one simply goes on to a second page.
    assert _agreement_pages(12) == 2


def test_makefile_builds_the_document_fonts_the_code_uses() -> None:
    # `make bootstrap` skips the build when these files exist: with stale names a machine
    # would keep an older build (or never build the new one).
    makefile = (settings.BASE_DIR / "Makefile").read_text()
    listed = set(re.findall(r"FupinDocumentSC-[\w-]+\.otf", makefile))
    assert listed == {font.filename for font in rendering.DOCUMENT_FONTS}


@pytest.mark.parametrize("font", rendering.DOCUMENT_FONTS, ids=lambda font: font.weight)
def test_document_fonts_number_common_characters_first(font: rendering.GeneratedFont) -> None:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    ttfont = TTFont(font.path, lazy=True)
    cmap = ttfont.getBestCmap()
    order = ttfont.getGlyphOrder()
    gid = {glyph: i for i, glyph in enumerate(order)}
    common = rendering._gb2312(rendering.GB2312_COMMON)
    every = rendering._gb2312(rendering.GB2312_ALL)
    assert every <= set(cmap), "a GB 2312 character is missing from the document font"
    # .notdef, then Latin and punctuation, then level-1 hanzi, then level-2 hanzi.
    assert order[0] == ".notdef"
    highest_common = max(gid[cmap[c]] for c in common)
    assert max(gid[cmap[c]] for c in range(0x21, 0x7F)) < gid[cmap[0x4E00]]
    assert highest_common < min(gid[cmap[c]] for c in every - common)
    assert highest_common < 5_000 < len(order)
    # Each character still draws its own glyph (renumbering kept outlines with their ids).
    glyphs = ttfont.getGlyphSet()
    assert glyphs[cmap[ord("中")]].width == glyphs[cmap[ord("国")]].width
    for table in rendering.DOCUMENT_FONT_DROP_TABLES:
        assert table not in ttfont


def test_document_font_outlines_survive_renumbering() -> None:
    # The same text through the document font and through the installed Noto CJK font it
    # was cut from: the pictures agree (up to anti-aliasing), so every character still has
    # its own outline after the glyphs were renumbered.
    text = "中华人民共和国肉羊养殖补助伍仟元整，（璐婧鑫）。"

    def page(stack: str) -> str:
        return (
            '<html lang="zh-CN"><head><meta charset="utf-8"><style>'
            "@page { size: 210mm 30mm; margin: 5mm } "
            f"body {{ font-family: {stack}; font-size: 20pt }}</style></head>"
            f"<body>{text}</body></html>"
        )

    ours = _raster(rendering.html_to_pdf(page(rendering.SERIF_STACK)))
    noto = _raster(rendering.html_to_pdf(page('"Noto Serif CJK SC"')))
    assert len(set(ours)) > 1, "nothing was drawn"
    assert len(ours) == len(noto)
    differing = sum(1 for a, b in zip(ours, noto, strict=True) if abs(a - b) > 96)
    assert differing < len(ours) // 200, f"{differing} of {len(ours)} pixels differ"
