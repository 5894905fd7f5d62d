"""A tiny hand-written single-page PDF writer (and the matching text reader used by tests).

Why not a PDF library: the generator must produce up to 100,000 documents in seconds. A general library
(reportlab, fpdf, pypdf) spends milliseconds per page on font metrics, compression and object graphs; this
writer formats one uncompressed content stream and a correct xref table in tens of microseconds, and adds no
dependency. The output is a valid PDF 1.4: catalog, page tree, one A4 page, the base-14 Helvetica and
Helvetica-Bold fonts in WinAnsiEncoding (cp1252), an Info dictionary, a cross-reference table with exact
byte offsets, `startxref` and `%%EOF`. Characters cp1252 cannot encode are transliterated to ASCII first.

The content stream is deliberately uncompressed and every text line is a single `Tj`, so a regex over the
raw stream (or `extract_text_lines`) recovers "Invoice number: X" and friends exactly.
"""

from __future__ import annotations

import hashlib
import re

from ..translit import to_winansi
from .spec import DocumentSpec

PAGE_WIDTH = 595
PAGE_HEIGHT = 842
_LEFT = 56
_TOP = 790
_TITLE_SIZE = 20
_TITLE_LEADING = 30
_SIZES = {"heading": 11, "text": 10, "bold": 10, "item": 9, "small": 8}
_LEADING = {"heading": 16, "text": 14, "bold": 15, "item": 13, "small": 11, "gap": 10}
_ITEM_COLUMNS = (_LEFT, 330, 400, 480)


def _pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsi bytes with (, ) and \\ escaped."""
    return ("(" + _escape(to_winansi(text)) + ")").encode("cp1252")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content_stream(spec: DocumentSpec) -> bytes:
    """Text operators for the page. Built as one str and encoded once: this runs 100,000 times."""
    parts: list[str] = ["BT\n", f"/F2 {_TITLE_SIZE} Tf 1 0 0 1 {_LEFT} {_TOP} Tm ({_escape(spec.title)}) Tj\n"]
    y = _TOP - _TITLE_LEADING
    for style, text, cells in spec.lines:
        if style == "gap":
            y -= _LEADING["gap"]
            continue
        font = "/F2" if style in ("heading", "bold") else "/F1"
        size = _SIZES[style]
        if style == "item":
            for x, cell in zip(_ITEM_COLUMNS, cells, strict=True):
                parts.append(f"{font} {size} Tf 1 0 0 1 {x} {y} Tm ({_escape(cell)}) Tj\n")
        else:
            parts.append(f"{font} {size} Tf 1 0 0 1 {_LEFT} {y} Tm ({_escape(text)}) Tj\n")
        y -= _LEADING[style]
    parts.append("ET\n")
    # A thin rule under the title, drawn outside the text object.
    parts.append(f"0.6 w {_LEFT} {_TOP - 12} m {PAGE_WIDTH - _LEFT} {_TOP - 12} l S\n")
    return to_winansi("".join(parts)).encode("cp1252")


def build_pdf(content: bytes, *, title: str, creation_date: str, pad_bytes: int = 0) -> bytes:
    """Assemble a one-page PDF around a content stream. `pad_bytes` appends an unreferenced filler stream
    object of that size (used for the deliberately oversized attachment)."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> "
        b"/Contents 6 0 R >>" % (PAGE_WIDTH, PAGE_HEIGHT),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Title %s /Producer (Well sandbox generator) /CreationDate (D:%s000000Z) >>"
        % (_pdf_string(title), creation_date.encode("ascii")),
    ]
    if pad_bytes > 0:
        pattern = b"% scanner padding 0123456789ABCDEF\n"
        filler = (pattern * (pad_bytes // len(pattern) + 1))[:pad_bytes]
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(filler), filler))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number
        out += body
        out += b"\nendobj\n"
    xref_at = len(out)
    size = len(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    doc_id = hashlib.md5(content).hexdigest().encode("ascii")
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, doc_id, doc_id, xref_at,
    )
    return bytes(out)


def render_pdf(spec: DocumentSpec, *, pad_bytes: int = 0) -> bytes:
    """The invoice as a one-page PDF."""
    return build_pdf(_content_stream(spec), title=spec.title, creation_date=spec.producer_date, pad_bytes=pad_bytes)


_STREAM_RE = re.compile(rb"stream\n(.*?)\nendstream", re.S)
_TEXT_RE = re.compile(rb"1 0 0 1 (\d+) (\d+) Tm \(((?:\\.|[^\\)])*)\) Tj")


def _unescape(raw: bytes) -> str:
    return re.sub(rb"\\(.)", rb"\1", raw).decode("cp1252")


def extract_text_lines(pdf: bytes) -> list[str]:
    """Text of a PDF written by this module, one entry per baseline (cells of a row joined by two spaces).

    Only understands this writer's own output (uncompressed, one Tj per positioned string); it is for tests
    and for the capture sandbox, not a general PDF text extractor.
    """
    match = _STREAM_RE.search(pdf)
    if not match:
        return []
    rows: dict[int, list[tuple[int, str]]] = {}
    for x, y, text in _TEXT_RE.findall(match.group(1)):
        rows.setdefault(-int(y), []).append((int(x), _unescape(text)))
    return ["  ".join(t for _, t in sorted(cells)) for _, cells in sorted(rows.items())]
