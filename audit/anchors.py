"""Anchors: the chain heads written down outside the database.

A chain head is an ordinary row: whoever can rewrite the last entries of a chain can rewrite
its head too, and the chain still verifies. An anchor is the list of heads (chain, seq, hash)
at one moment, kept where the database administrator cannot reach it (another machine, a
printed page, a message to the inspectors). Later, every entry an anchor names must still be
there with that hash (``audit.verify.anchors_check``).

An anchor has two forms, both accepted back by ``anchors_parse``:

- a JSON line with the full hashes and a digest over them (``Anchor.json_line``), appended
  to a file by ``manage.py audit_anchor``;
- a short text to copy, print or send (``Anchor.text``): one line per chain with the first
  ``SHORT_HASH`` hex digits of its head's hash, and the digest's first digits to match a
  printed page with its JSON line.

This module holds no models and writes nothing to the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.utils.translation import gettext as _

from audit.hashing import canonical_json

FORMAT = 1
SHORT_HASH = 20  # hex digits of a head's hash in the short text (80 bits)
MIN_HASH = 16  # the fewest hex digits a pasted head may give
SHORT_DIGEST = 16
TEXT_HEADER = "AUDIT-ANCHOR"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_HEX = re.compile(r"[0-9a-f]+")
_CHAIN = re.compile(r"[0-9]{6}")
_TEXT_HEAD = re.compile(r"(?P<chain>[0-9]{6})\s+#(?P<seq>[0-9]+)\s+(?P<hash>[0-9a-fA-F]+)")


class AnchorFormatError(ValueError):
    """A pasted or stored anchor that cannot be read; the message is for the user."""


@dataclass(frozen=True)
class AnchorHead:
    chain: str
    seq: int
    hash: str  # the full 64 hex digits, or (from a short text) their first ones


@dataclass(frozen=True)
class Anchor:
    time: str  # UTC, ``TIME_FORMAT``
    heads: tuple[AnchorHead, ...]  # by chain
    digest: str  # full (JSON form) or its first digits (short text)

    def json_line(self) -> str:
        """The machine-readable form: one line of JSON, no newline."""
        return canonical_json(
            {
                "anchor": FORMAT,
                "time": self.time,
                "heads": [{"chain": h.chain, "seq": h.seq, "hash": h.hash} for h in self.heads],
                "digest": self.digest,
            }
        )

    def text(self) -> str:
        """The short form for people: a few lines, the same in every language."""
        lines = [f"{TEXT_HEADER} {self.time}"]
        lines += [f"{h.chain} #{h.seq} {h.hash[:SHORT_HASH]}" for h in self.heads]
        lines.append(f"DIGEST {self.digest[:SHORT_DIGEST]}")
        return "\n".join(lines)


def anchor_digest(*, time: str, heads: Iterable[AnchorHead]) -> str:
    """SHA-256 over the time and the full heads, in chain order."""
    rows = sorted([h.chain, h.seq, h.hash] for h in heads)
    return hashlib.sha256(canonical_json([time, rows]).encode()).hexdigest()


def anchor_build(*, time: datetime, heads: Iterable[tuple[str, int, str]]) -> Anchor:
    """An anchor of these heads (chain, seq, full hash) taken at ``time``."""
    stamp = time.astimezone(UTC).strftime(TIME_FORMAT)
    rows = tuple(AnchorHead(c, int(s), h) for c, s, h in sorted(heads))
    return Anchor(time=stamp, heads=rows, digest=anchor_digest(time=stamp, heads=rows))


def anchor_file_append(*, path: Path, anchor: Anchor) -> None:
    """Append the anchor's JSON line to ``path`` (created with its folder if need be).

    One ``write`` of the whole line to a file opened for appending, then ``fsync``: a
    reader never sees half a line, and two writers never interleave within one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (anchor.json_line() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading anchors back ----------------------------------------------------------------------


def _parse_time(value: object, line: int) -> str:
    if isinstance(value, str):
        try:
            datetime.strptime(value, TIME_FORMAT)  # noqa: DTZ007 (the text ends in Z: UTC)
        except ValueError:
            pass
        else:
            return value
    raise AnchorFormatError(
        _("Line %(line)d: the anchor's time is not a UTC time like 2025-01-31T02:00:00Z.")
        % {"line": line}
    )


def _head(chain: object, seq: object, digest: object, *, line: int, full: bool) -> AnchorHead:
    hex_ = digest.lower() if isinstance(digest, str) else ""
    if (
        not isinstance(chain, str)
        or not _CHAIN.fullmatch(chain)
        or not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not _HEX.fullmatch(hex_)
        or len(hex_) > 64
        or len(hex_) < (64 if full else MIN_HASH)
    ):
        raise AnchorFormatError(
            _(
                "Line %(line)d: a chain head must give a 6-digit county code, a sequence "
                "number and at least %(digits)d hex digits of the hash."
            )
            % {"line": line, "digits": 64 if full else MIN_HASH}
        )
    return AnchorHead(chain, seq, hex_)


def _parse_json(raw: str, line: int) -> Anchor:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("anchor") != FORMAT:
        raise AnchorFormatError(_("Line %(line)d is not an audit anchor.") % {"line": line})
    time = _parse_time(data.get("time"), line)
    heads = data.get("heads")
    if not isinstance(heads, list) or not heads:
        raise AnchorFormatError(_("Line %(line)d: the anchor names no chain.") % {"line": line})
    rows = tuple(
        _head(h.get("chain"), h.get("seq"), h.get("hash"), line=line, full=True)
        if isinstance(h, dict)
        else _head(None, None, None, line=line, full=True)
        for h in heads
    )
    if anchor_digest(time=time, heads=rows) != data.get("digest"):
        raise AnchorFormatError(
            _(
                "Line %(line)d: the anchor's digest does not match its chain heads "
                "(the anchor was altered or mistyped)."
            )
            % {"line": line}
        )
    return Anchor(
        time=time, heads=tuple(sorted(rows, key=lambda h: h.chain)), digest=data["digest"]
    )


def anchors_parse(text: str) -> list[Anchor]:
    """Every anchor in ``text``: JSON lines and short texts, in any mix, blank lines ignored.

    Raises ``AnchorFormatError`` (a translated message naming the line) for anything else,
    and when there is no anchor at all.
    """
    anchors: list[Anchor] = []
    time: str | None = None  # of the short text being read
    heads: list[AnchorHead] = []
    digest = ""

    def close(line: int) -> None:
        nonlocal time, heads, digest
        if time is not None:
            if not heads:
                raise AnchorFormatError(
                    _("Line %(line)d: the anchor names no chain.") % {"line": line}
                )
            anchors.append(Anchor(time, tuple(sorted(heads, key=lambda h: h.chain)), digest))
        time, heads, digest = None, [], ""

    number = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        words = line.split()
        if line.startswith("{"):
            close(number)
            anchors.append(_parse_json(line, number))
        elif words[0].upper() == TEXT_HEADER:
            close(number)
            time = _parse_time(words[1] if len(words) == 2 else None, number)
        elif time is not None and words[0].upper() == "DIGEST" and len(words) == 2:
            digest = words[1].lower()
        elif time is not None and (match := _TEXT_HEAD.fullmatch(line)):
            heads.append(
                _head(match["chain"], int(match["seq"]), match["hash"], line=number, full=False)
            )
        else:
            raise AnchorFormatError(
                _("Line %(line)d is neither an anchor's JSON line nor a line of its printed text.")
                % {"line": number}
            )
    close(number)
    if not anchors:
        raise AnchorFormatError(_("No audit anchor was given."))
    return anchors
