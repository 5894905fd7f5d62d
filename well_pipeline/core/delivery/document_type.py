"""What a document really is, read from its first bytes, before it is e-mailed to Melio.

Why: Melio drafts a bill only from a real PDF, JPEG, PNG or GIF and says nothing when it gets anything else
(reference: melio-and-peers.md, December 2026 additions). A file Qonto serves as `application/pdf` can be an
executable or an HTML error page; sent, it would be recorded as delivered, no bill would ever appear, and
malware would land in the accounts-payable inbox. So the declared type must match the file's signature.

The signatures are the formats' own: PDF `%PDF-`, JPEG `FF D8 FF`, PNG `89 50 4E 47 0D 0A 1A 0A`, GIF
`GIF87a`/`GIF89a`, each at offset 0. PDF readers tolerate junk before `%PDF-`; whether Melio's capture does
is UNCONFIRMED, so such a file is held for a person rather than sent (a held bill is a delay, a lost one is not).
Pure functions: the caller reads the bytes (`SNIFF_BYTES` of them are enough).
"""

from __future__ import annotations

__all__ = ["SIGNATURES", "SNIFF_BYTES", "content_mismatch", "describe_content", "sniff_document_type"]

# How many leading bytes `describe_content` looks at (an HTML page may open with a BOM, blank lines, a comment).
SNIFF_BYTES = 512

# Content type Melio accepts -> (signatures at offset 0, how a person would call it).
SIGNATURES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "application/pdf": ((b"%PDF-",), "a PDF document"),
    "image/jpeg": ((b"\xff\xd8\xff",), "a JPEG image"),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), "a PNG image"),
    "image/gif": ((b"GIF87a", b"GIF89a"), "a GIF image"),
}

# Other formats worth naming in a hold reason, so the person knows what Qonto really holds.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable (MZ)"),
    (b"\x7fELF", "a Linux executable (ELF)"),
    (b"\xca\xfe\xba\xbe", "a macOS/Java executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (OLE)"),
    (b"{\\rtf", "an RTF document"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<meta", b"<title", b"<!--")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def sniff_document_type(head: bytes) -> str | None:
    """The accepted content type `head` (a file's first bytes) really is, or None for anything else."""
    for content_type, (signatures, _) in SIGNATURES.items():
        if head.startswith(signatures):
            return content_type
    return None


def describe_content(head: bytes) -> str:
    """What the bytes are, in words for a hold reason: "a Windows executable (MZ)", "an HTML page"..."""
    if not head:
        return "empty"
    actual = sniff_document_type(head)
    if actual is not None:
        return SIGNATURES[actual][1]
    for signature, label in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return label
    text = head
    for bom in _BOMS:
        text = text.removeprefix(bom)
    text = text.lstrip().lower()
    if text.startswith(_HTML_STARTS) or (text.startswith(b"<?xml") and b"<html" in text):
        return "an HTML page"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG image"
    if text.startswith(b"<?xml"):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "JSON or other text"
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and all(char.isprintable() or char in "\r\n\t" for char in decoded):
        return "plain text"
    return f"unrecognised binary data (starts with {head[:8].hex(' ')})"


def content_mismatch(declared: str | None, head: bytes) -> str | None:
    """None when `head` is the accepted type `declared` says it is; otherwise why it must not be sent.

    `declared` is a content type ("application/pdf; name=x" is fine); one Melio does not accept is a mismatch
    too. The reason reads "declared application/pdf, content is a Windows executable (MZ)".
    """
    canonical = (declared or "").split(";", 1)[0].strip().lower()
    if canonical in SIGNATURES and sniff_document_type(head) == canonical:
        return None
    return f"declared {canonical or 'no content type'}, content is {describe_content(head)}"
