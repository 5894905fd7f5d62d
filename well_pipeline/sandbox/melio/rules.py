"""Which attachments Melio's email-in turns into bills (melio-and-peers.md A.1).

Melio documents: one invoice per file, JPEG/PNG/GIF/PDF attachments only, at most 10 MB each. The sandbox
checks the declared content type AND the file's magic bytes, so a mailer that labels a text file
`application/pdf` (or sends a PDF as `application/octet-stream`) is caught here rather than in production,
where the bill would silently never appear. Whether Melio itself sniffs content is UNCONFIRMED; being
stricter than Melio costs nothing because Well only ever sends real PDFs and images with their true type.
"""

from __future__ import annotations

from dataclasses import dataclass

# Canonical content type -> (label, magic prefixes).
ACCEPTED_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "application/pdf": ("PDF", (b"%PDF",)),
    "image/jpeg": ("JPEG", (b"\xff\xd8\xff",)),
    "image/png": ("PNG", (b"\x89PNG",)),
    "image/gif": ("GIF", (b"GIF87a", b"GIF89a")),
}
# Non-standard spellings that mail clients emit for the same formats.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}


@dataclass(frozen=True)
class Verdict:
    """Outcome for one attachment: accepted (kind = "pdf" | "image") or rejected with a code and reason."""

    accepted: bool
    kind: str | None = None
    code: str | None = None
    reason: str | None = None


def canonical_type(content_type: str) -> str:
    """Lower-case type without parameters, aliases folded ("image/jpg" -> "image/jpeg")."""
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(data: bytes) -> str | None:
    """The accepted content type the bytes actually are, by magic number, or None."""
    for content_type, (_, magics) in ACCEPTED_TYPES.items():
        if data.startswith(magics):
            return content_type
    return None


def _human_size(size: int) -> str:
    return f"{size:,} bytes ({size / (1024 * 1024):.1f} MB)"


def check_attachment(content_type: str, data: bytes, *, max_bytes: int) -> Verdict:
    """Apply Melio's rules to one attachment; the reason is a sentence a person can act on."""
    declared = canonical_type(content_type)
    actual = sniff(data)
    if declared not in ACCEPTED_TYPES:
        hint = f" (its content is a {ACCEPTED_TYPES[actual][0]}: send it as {actual})" if actual else ""
        return Verdict(
            False,
            code="unsupported_type",
            reason=f"unsupported file type {declared or 'unknown'}{hint}; Melio accepts PDF, JPEG, PNG or GIF",
        )
    label = ACCEPTED_TYPES[declared][0]
    if not data:
        return Verdict(False, code="empty", reason=f"empty attachment declared as {label}")
    if actual != declared:
        found = f"a {ACCEPTED_TYPES[actual][0]}" if actual else "not a PDF, JPEG, PNG or GIF file"
        return Verdict(
            False,
            code="content_mismatch",
            reason=f"declared {declared} but the content is {found} (starts with {data[:8]!r})",
        )
    if len(data) > max_bytes:
        return Verdict(
            False,
            code="too_large",
            reason=f"{label} of {_human_size(len(data))} exceeds Melio's limit of {_human_size(max_bytes)}",
        )
    return Verdict(True, kind="pdf" if declared == "application/pdf" else "image")
