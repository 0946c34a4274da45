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
import re
import shutil
import subprocess  # noqa: S404 -- fc-list and fc-match, fixed arguments, no shell
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
from django.conf import settings
from django.template.loader import render_to_string

# One family for the whole document: every face used costs a font subset per document.
# Its regular face is Noto Serif CJK SC (official documents are set in 宋体-like faces), its
# bold face Noto Sans CJK SC Bold (headings and emphasis in 黑体), both cut down to GB 2312
# (see DOCUMENT_FONTS). Then the full Noto CJK for characters outside it, then HanaMin A/B:
# they cover CJK Extension A and B (rare characters in names, e.g. 䶮 U+4DAE, 𠮷 U+20BB7,
# 𪚥 U+2A6A5) where Noto CJK stops.
DOCUMENT_FAMILY = "Fupin Document SC"
SERIF_STACK = (
    f'"{DOCUMENT_FAMILY}", "Noto Serif CJK SC", "Noto Sans CJK SC", "HanaMinA", "HanaMinB", serif'
)


@dataclass(frozen=True)
class GeneratedFont:
    """A face of the document family: a subset of an installed font, built once by
    ``manage.py build_document_fonts``. WeasyPrint subsets every face a document uses
    (with HarfBuzz), and the time goes with the size of the face and with the highest glyph
    id the document uses: about 45 ms for a 20 MB Noto CJK face, about 7 ms for one of
    these."""

    weight: str  # CSS font-weight of the face
    source_family: str  # the installed font it is cut from (fontconfig names)
    source_style: str
    filename: str

    @property
    def path(self) -> Path:
        return Path(settings.VAR_DIR) / "fonts" / self.filename


# The number in the file names is the build's version: a change to how the faces are cut
# gets new names, so that `make bootstrap` builds them again on every machine (the Makefile
# lists the same names; a test checks that).
DOCUMENT_FONTS = (
    GeneratedFont("normal", "Noto Serif CJK SC", "Regular", "FupinDocumentSC-2-Regular.otf"),
    GeneratedFont("bold", "Noto Sans CJK SC", "Bold", "FupinDocumentSC-2-Bold.otf"),
)
# Tables the document faces leave out. GSUB and GPOS: WeasyPrint drops them from every font
# it embeds anyway, and what they add to horizontal Simplified Chinese is Latin kerning (and,
# with them, the glyphs cannot be renumbered, see _glyphs_by_frequency). The vertical
# metrics: the documents are set horizontally.
DOCUMENT_FONT_DROP_TABLES = ("GSUB", "GPOS", "BASE", "vhea", "vmtx", "VORG")


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
    for generated in DOCUMENT_FONTS:
        if not generated.path.is_file():
            problems.append(
                Problem(
                    "W006",
                    f"The document font {generated.path} has not been built: PDFs fall back "
                    "to the full Noto CJK fonts and render about twice as slowly.",
                    "python manage.py build_document_fonts (make bootstrap does this)",
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


def _gb2312(first_bytes: range) -> set[int]:
    chars: set[int] = set()
    for high in first_bytes:
        for low in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


GB2312_ALL = range(0xA1, 0xF8)
# Rows 1-9 (symbols, full-width forms, kana) and 16-55: the 3,755 level-1 hanzi, the
# common ones. Level 2 (rows 56-87) holds 3,008 rarer ones.
GB2312_COMMON = range(0xA1, 0xD8)


def _document_charset() -> set[int]:
    """GB 2312 (its 6,763 hanzi and symbols: nearly all text of these documents), ASCII,
    Latin-1, general punctuation, CJK symbols and full-width forms. Anything else (rarer
    name characters) is drawn by the next fonts of the stack."""
    chars = _gb2312(GB2312_ALL)
    for start, end in ((0x20, 0x7F), (0xA0, 0x180), (0x2000, 0x2070), (0x3000, 0x3040)):
        chars.update(range(start, end))
    chars.update(range(0xFF00, 0xFFF0))
    return chars


def _is_ideograph(codepoint: int) -> bool:
    return 0x3400 <= codepoint <= 0x9FFF or 0xF900 <= codepoint <= 0xFAFF or codepoint >= 0x20000


def _glyphs_by_frequency(ttfont: Any) -> None:
    """Renumber the glyphs of a CFF font: .notdef, then everything that is not a hanzi
    (Latin, digits, punctuation, symbols), then GB 2312's level-1 hanzi, then the rest, each
    group in Unicode order.

    WeasyPrint keeps glyph ids when it embeds a font (its first subsetting pass retains them)
    and then keeps every id up to the highest one used, so the cost of a document's font goes
    with its highest glyph id. In Noto's own order the common and the rare hanzi are mixed;
    in this one a document of common characters stays under about 4,800 glyph ids, where it
    would otherwise reach nearly 8,000."""
    for tag in ttfont.keys():
        ttfont[tag]  # decompile every table under the old glyph ids before they change
    order: list[str] = ttfont.getGlyphOrder()
    lowest: dict[str, int] = {}
    for codepoint, glyph in ttfont.getBestCmap().items():
        lowest[glyph] = min(lowest.get(glyph, codepoint), codepoint)
    common = _gb2312(GB2312_COMMON)

    def group(glyph: str) -> int:
        codepoint = lowest.get(glyph)
        if glyph == ".notdef":
            return 0
        if codepoint is None:
            return 4
        if not _is_ideograph(codepoint):
            return 1
        return 2 if codepoint in common else 3

    position = {glyph: i for i, glyph in enumerate(order)}
    new_order = sorted(
        order, key=lambda glyph: (group(glyph), lowest.get(glyph, 0), position[glyph])
    )
    top = ttfont["CFF "].cff.topDictIndex[0]
    charstrings = top.CharStrings
    if not charstrings.charStringsAreIndexed or list(top.charset) != order:
        raise RuntimeError("unexpected CFF layout: the glyphs cannot be renumbered")
    old_ids = [position[glyph] for glyph in new_order]
    index = charstrings.charStringsIndex
    index.items = [index[old] for old in old_ids]  # reads each charstring in its old place
    for attribute in ("file", "offsets"):
        if hasattr(index, attribute):
            delattr(index, attribute)
    if hasattr(top, "FDSelect"):  # CID-keyed: each glyph's private dict goes with it
        select = top.FDSelect
        select.format = None
        select.gidArray = [select.gidArray[old] for old in old_ids]
    charstrings.charStrings = {glyph: i for i, glyph in enumerate(new_order)}
    top.charset = new_order
    ttfont.setGlyphOrder(new_order)


def _font_file(family: str, style: str) -> tuple[Path, int]:
    """The file and collection index of an installed font, from fontconfig."""
    exe = shutil.which("fc-match")
    if exe is None:
        raise RuntimeError("fc-match is not installed (apt-get install fontconfig)")
    out = subprocess.run(  # noqa: S603 -- fixed executable, the pattern is ours
        [exe, "-f", "%{family}|%{file}|%{index}", f"{family}:style={style}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    families, file, index = out.rsplit("|", 2)
    if family not in (name.strip() for name in families.split(",")):
        raise RuntimeError(f'Font "{family}" is not installed (fc-match gives {families!r})')
    return Path(file), int(index)


def document_fonts_build(*, force: bool = False) -> list[Path]:
    """Build the faces of the document family that do not exist yet (all with ``force``);
    returns the paths built. Each is written to a temporary file and renamed, so a reader
    never sees half a font; faces of earlier builds are removed. About half a minute per
    face (fontTools on a 20 MB CJK face), once per machine."""
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    built: list[Path] = []
    for font in DOCUMENT_FONTS:
        if font.path.is_file() and not force:
            continue
        source, index = _font_file(font.source_family, font.source_style)
        options = subset.Options()
        options.layout_features = []
        options.drop_tables = [*options.drop_tables, *DOCUMENT_FONT_DROP_TABLES]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=_document_charset())
        ttfont = TTFont(source, fontNumber=index)
        subsetter.subset(ttfont)
        _glyphs_by_frequency(ttfont)
        font.path.parent.mkdir(parents=True, exist_ok=True)
        partial = font.path.with_suffix(".partial")
        ttfont.save(partial)
        partial.replace(font.path)
        built.append(font.path)
    current = {font.path.name for font in DOCUMENT_FONTS}
    for font in DOCUMENT_FONTS:
        for old in font.path.parent.glob("FupinDocumentSC-*.otf"):
            if old.name not in current:
                old.unlink(missing_ok=True)
    return built


def _font_face_css() -> str:
    """The @font-face rules of the document family, or nothing when a face has not been
    built (the stack then falls through to the installed Noto CJK)."""
    if not all(font.path.is_file() for font in DOCUMENT_FONTS):
        return ""
    return "\n".join(
        f'@font-face {{ font-family: "{DOCUMENT_FAMILY}"; font-weight: {font.weight}; '
        f"src: url({font.path.resolve().as_uri()}); }}"
        for font in DOCUMENT_FONTS
    )


# One WeasyPrint FontConfiguration per thread, kept across renders: creating one loads the
# whole fontconfig configuration, and each one copies the @font-face files into a temporary
# folder again. Pango font maps are not thread-safe, hence per thread.
_fonts = threading.local()


def _font_config() -> Any:
    from weasyprint.text.fonts import FontConfiguration

    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


QR_MASK = 2  # every third column inverted; scored best of the eight on our verification URLs


def qr_matrix(text: str) -> list[list[bool]]:
    """The modules of the QR code for ``text`` (error correction M, a two-module quiet zone),
    row by row, True for dark. The mask pattern is fixed rather than chosen by scoring all
    eight (the library's scoring is pure Python, most of the time of a QR code); any mask
    is valid, and a short URL scans well with each."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, mask_pattern=QR_MASK
    )
    qr.add_data(text)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()
    return matrix


def qr_data_uri(text: str) -> str:
    """A QR code as a PNG data URI, one pixel per module, drawn without smoothing
    (``image-rendering: pixelated`` in the templates), so it prints as sharp as a vector
    would. A bitmap rather than an SVG: WeasyPrint parses and draws every SVG path segment,
    which cost more than a tenth of an agreement's rendering time; a 41 × 41 PNG costs
    nothing."""
    from PIL import Image

    matrix = qr_matrix(text)
    size = len(matrix)
    image = Image.new("1", (size, size))
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


class _ArrayTypes(dict):  # type: ignore[type-arg]
    """cffi's cache of parsed C types, answering fixed-size array types (``T[N]`` for a
    type ``T`` it already knows) without parsing them.

    WeasyPrint subsets every font of a document through HarfBuzz with arrays declared as
    ``hb_codepoint_t[N]``, N being the number of glyphs (and the highest glyph id) that the
    document uses. cffi parses each new declaration with pycparser against all of
    WeasyPrint's C declarations, and N changes with nearly every document: on 40 different
    agreements rendered in a row the median fell from 313 to 249 ms of CPU with this in
    place (and the first document from 2.7 to 0.5 s). The array type is what cffi itself would
    build from the parse (the same ctype object, which the tests check)."""

    _ARRAY = re.compile(r"([A-Za-z_]\w*)\[(\d{1,7})\]")

    def __init__(self, ffi: Any, parsed: dict[Any, Any]) -> None:
        super().__init__(parsed)
        self.ffi = ffi

    def __missing__(self, key: Any) -> Any:
        match = self._ARRAY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            raise KeyError(key)
        backend = self.ffi._backend
        item = self.ffi.typeof(match[1])  # parsed once per item type, then cached
        array = backend.new_array_type(backend.new_pointer_type(item), int(match[2]))
        self[key] = result = (array, False)
        return result


def _cffi_array_types_install() -> bool:
    """Put ``_ArrayTypes`` in front of the cffi type cache of WeasyPrint's bindings (once).
    False, and nothing changed, when cffi does not keep the cache where expected: rendering
    is then slower, never different."""
    from weasyprint.text.ffi import ffi

    parsed = getattr(ffi, "_parsed_types", None)
    if isinstance(parsed, _ArrayTypes):
        return True
    if type(parsed) is not dict or not hasattr(ffi, "_backend"):
        return False
    ffi._parsed_types = _ArrayTypes(ffi, parsed)
    return True


PDF_COMPRESSION_LEVEL = 6  # zlib's own default


class _Zlib:
    """``zlib`` as pydyf (WeasyPrint's PDF writer) sees it, with stream compression at
    ``PDF_COMPRESSION_LEVEL`` instead of the 9 pydyf asks for. Level 9 on the embedded font
    subsets took about a fifth of an agreement's rendering time, for files 0.3 % smaller."""

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level: int = -1, *args: Any, **kwargs: Any) -> Any:
        return zlib.compressobj(min(level, PDF_COMPRESSION_LEVEL), *args, **kwargs)


def _pdf_compression_install() -> bool:
    """Hand pydyf the ``_Zlib`` above (once). False, and nothing changed, when pydyf does
    not hold ``zlib`` where expected: files are then written at level 9, as before."""
    import pydyf  # type: ignore[import-untyped]

    current = getattr(pydyf, "zlib", None)
    if isinstance(current, _Zlib):
        return True
    if current is not zlib:
        return False
    pydyf.zlib = _Zlib()
    return True


def html_to_pdf(html: str) -> bytes:
    """Render HTML (with its CSS inline) to PDF bytes, identical for identical HTML."""
    from weasyprint import HTML

    _cffi_array_types_install()
    _pdf_compression_install()

    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    pdf: bytes = HTML(string=html, base_url=None).write_pdf(
        pdf_identifier=identifier, uncompressed_pdf=False, font_config=_font_config()
    )
    return pdf


def template_to_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """Render a Django template (``documents/*.html``) to PDF. The context is given the
    document font and its fallbacks, so that every template uses the same ones."""
    html = render_to_string(
        template_name,
        {"font_face_css": _font_face_css(), "font_stack": SERIF_STACK, **context},
    )
    return html_to_pdf(html)
