"""The e-mail that turns one Qonto supplier invoice into one Melio draft bill.

Melio has no write API: it drafts a bill from each invoice attachment e-mailed to the workspace's
`...@invoicesmelio.com` address (../shared/reference/melio-and-peers.md A.1: one invoice per e-mail, PDF/JPEG/
PNG/GIF attachment of at most 10 MB; the body is, as far as anyone knows, ignored). So the message carries:

- exactly one attachment: the original document bytes, unchanged (base64), with the content type given;
  named `"{qonto_id}_{original name}"` so the Qonto id travels with the file into Melio and the ledger sync;
- everything a person needs in the Subject (`Invoice {number} from {supplier} [Qonto {qonto_id}]`), plus
  `X-Well-Qonto-Id` / `X-Well-Record-Version` headers and a deterministic Message-ID
  `<well.{qonto_id}.v{version}@{sender domain}>`: a retry of the same record version is recognisably the
  same message, a new version is recognisably a different one;
- a short text body (ignored by Melio, read by a person looking at the raw mail); the total is written with
  the shared `core.money.format_money` ("22.80 EUR", never DuckDB's "22.800000000" nor "None"/"nan").

Recipient (issue 7): Well hands mail to the user's own relay (Google Workspace, Microsoft 365...), which accepts
any recipient, so a mistyped inbox (`bills_1234@invoicemelio.com`) would be "sent" and no bill would ever appear.
`validate_melio_address` therefore *refuses* any domain but exactly `invoicesmelio.com` (case-insensitive; no
subdomain, no look-alike) unless the caller explicitly allows any domain (tests and sandboxes only).

Header injection: supplier names, invoice numbers and file names come from OCR and supplier uploads. Every
control character (CR, LF, NUL, tabs, Unicode line/paragraph separators, bidi overrides...) is replaced
before any of them reaches a header, so "ACME\\r\\nBcc: evil@x.com" stays one harmless subject line.

Encoding: `email.policy.SMTP` (CRLF, 78-column folding). A non-ASCII Subject is written as RFC 2047
encoded words by `email.header.Header` (CPython's policy folder drops a space between encoded words when it
refolds, which would alter the subject); a non-ASCII file name is RFC 2231 encoded by the policy.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from rapidfuzz.distance import OSA

from well_pipeline.core.money import format_money

__all__ = [
    "MELIO_ACCEPTED_CONTENT_TYPES",
    "BILL_EMAIL_POLICY",
    "MELIO_INBOX_DOMAIN",
    "MELIO_MAX_ATTACHMENT_BYTES",
    "BillEmail",
    "attachment_filename",
    "bill_message_id",
    "bill_subject",
    "build_bill_email",
    "validate_address",
    "validate_melio_address",
]

MELIO_INBOX_DOMAIN = "invoicesmelio.com"
MELIO_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Content type -> file extensions Melio's capture is expected to recognise; the first one is canonical.
MELIO_ACCEPTED_CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/png": (".png",),
    "image/gif": (".gif",),
}

UNKNOWN = "unknown"
_MAX_SUPPLIER_CHARS = 120
_MAX_NUMBER_CHARS = 60
_MAX_FILENAME_CHARS = 120  # the original-name part, before the "{qonto_id}_" prefix
# A Qonto id is a UUID; anything beyond letters, digits and ".:_-" is refused rather than escaped. At most
# 60 characters keeps "X-Well-Qonto-Id: {id}" within one 78-column line (a longer token would be turned
# into an RFC 2047 encoded word by the policy's folder, and a grep for the raw id would miss it).
_QONTO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,59}")

# Strict addr-spec: dot-atom local part (RFC 5322 atext) and an LDH host name with a letter TLD. Quoted local
# parts, IP literals, comments and non-ASCII are refused on purpose: no real Melio inbox needs them, and each
# is a way to make two parsers disagree about who the recipient is.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LOCAL_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?")
_MELIO_LOCAL_SHAPE_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*_\d{3,4}")
# A domain this few edits (insert, delete, substitute, swap) from invoicesmelio.com is taken for a typo of it.
_TYPO_MAX_EDITS = 3
# Message-ID left part: every byte outside this set is %-escaped ("%" itself included), which keeps the
# mapping from Qonto id to Message-ID one-to-one and the result a valid dot-atom.
_MSGID_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&'*+-/=?^_`{|}~")
_CONTENT_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


@dataclass(frozen=True)
class BillEmail:
    """Everything needed to e-mail one Qonto invoice (one record version) to a Melio inbox.

    `record_version` is Well's version of the Qonto record (1 for the first import); it is part of the
    Message-ID so a corrected re-send is a different message. `amount` is a decimal string (any precision:
    DuckDB's "1234.500000000" is shown as "1234.50 EUR") and `currency` an ISO 4217 code; both only go to the
    body. `document` is the original file, sent unchanged (hidden from `repr`). `content_type` must be one
    Melio reads (PDF, JPEG, PNG, GIF).
    """

    qonto_id: str
    record_version: int
    to_address: str
    from_address: str
    supplier_name: str | None
    invoice_number: str | None
    amount: str | None
    currency: str | None
    document: bytes = field(repr=False)
    document_filename: str | None
    content_type: str


def validate_address(address: str) -> str:
    """Return `address` if it is exactly one plain ASCII addr-spec (`local@domain`), else raise ValueError.

    No display name, no angle brackets, no comments, no whitespace, no second address, no quoted local part,
    no IP literal; `email.utils.parseaddr` must read back the very same string.
    """
    if not isinstance(address, str):
        raise ValueError(f"e-mail address must be a str, got {type(address).__name__}")
    shown = ascii(address)
    if not address:
        raise ValueError("e-mail address is empty")
    if len(address) > 254:
        raise ValueError(f"e-mail address {shown} is longer than 254 characters")
    if not address.isascii() or any(ch.isspace() or not ch.isprintable() for ch in address):
        raise ValueError(f"e-mail address {shown} must be plain ASCII without spaces or control characters")
    if address.count("@") != 1:
        raise ValueError(f"e-mail address {shown} must contain exactly one '@' (one local@domain address)")
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        raise ValueError(f"e-mail address {shown} has an invalid local part")
    if not _DOMAIN_RE.fullmatch(domain):
        raise ValueError(f"e-mail address {shown} has an invalid domain")
    if parseaddr(address) != ("", address):
        raise ValueError(f"e-mail address {shown} does not parse back as one plain address")
    return address


def _looks_like_melio_domain(domain: str) -> bool:
    """True for a probable typo of Melio's domain, worth a "did you mean": a few edits away
    (`invoicemelio.com`, `invoicesmelio.co`, `invoices-melio.com`) or naming Melio at all (`melio.com`,
    `mail.invoicesmelio.com`, `invoicesmelio.com.example`)."""
    domain = domain.lower()
    if "melio" in re.sub(r"[^a-z0-9]", "", domain):
        return True
    return OSA.distance(domain, MELIO_INBOX_DOMAIN, score_cutoff=_TYPO_MAX_EDITS) <= _TYPO_MAX_EDITS


def _did_you_mean(local: str | None = None) -> str:
    """The hint; the corrected address only for a validated local part (an unchecked one may hold CR/LF)."""
    corrected = f" ({local}@{MELIO_INBOX_DOMAIN})" if local else ""
    return f"; did you mean {MELIO_INBOX_DOMAIN}?{corrected}"


def validate_melio_address(address: str, *, allow_any_domain: bool = False) -> list[str]:
    """Check a Melio inbox address; return warnings (empty when it looks right), raise ValueError when unusable.

    Raises for anything that is not exactly one plain addr-spec (see `validate_address`), and for any domain
    but exactly `invoicesmelio.com`, compared case-insensitively: the user's relay accepts a mistyped domain,
    the e-mail counts as sent, and no bill ever reaches Melio. A probable typo adds "did you mean
    invoicesmelio.com?". `allow_any_domain=True` (tests and sandboxes only) turns that refusal into a warning.
    Warns, never raises, when the local part lacks the documented shape "businessname_1234" ([UNCONFIRMED]
    Melio article and public examples).
    """
    try:
        validate_address(address)
    except ValueError as exc:
        domain = address.rpartition("@")[2] if isinstance(address, str) and address.isascii() else ""
        if domain and _looks_like_melio_domain(domain):
            raise ValueError(f"{exc}{_did_you_mean()}") from None
        raise
    local, domain = address.split("@")
    if domain.lower() != MELIO_INBOX_DOMAIN:
        hint = _did_you_mean(local) if _looks_like_melio_domain(domain) else ""
        problem = (
            f"{address!r} is not a Melio inbox address: domain {domain!r} found, {MELIO_INBOX_DOMAIN!r} "
            f"expected{hint}. A mail relay accepts any domain, so bills sent there would never reach Melio"
        )
        if not allow_any_domain:
            raise ValueError(f"{problem}; copy the address from Melio (Settings -> Company settings -> "
                             "'Get invoices directly to Pay Inbox')")
        return [f"{problem}. Delivering there anyway: any domain is allowed (tests and sandboxes only)"]
    if not _MELIO_LOCAL_SHAPE_RE.fullmatch(local.lower()):
        return [
            f"{address!r}: Melio inbox addresses usually look like 'businessname_1234@{MELIO_INBOX_DOMAIN}'; "
            "check it was copied completely"
        ]
    return []


# Zero-width (non-)joiners are format characters that emoji sequences and several scripts need; every other
# format character (bidi overrides and isolates, BOM, soft hyphen...) is dropped with the control characters.
_KEEP_FORMAT = frozenset("\u200c\u200d")


def _is_unsafe(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in {"Cc", "Cs", "Zl", "Zp"} or (category == "Cf" and ch not in _KEEP_FORMAT)


def _one_line(value: str | None, limit: int) -> str:
    """NFC text on one line: control, format (bar ZWJ/ZWNJ), surrogate and line/paragraph separator
    characters become spaces, whitespace collapses, and the result is cut to `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"expected str or None, got {type(value).__name__}")
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if _is_unsafe(ch) else ch for ch in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _check_qonto_id(qonto_id: str) -> str:
    if not isinstance(qonto_id, str) or not _QONTO_ID_RE.fullmatch(qonto_id):
        raise ValueError(
            f"qonto_id {ascii(qonto_id)} must be 1-60 characters of letters, digits and '.:_-' (a Qonto UUID)"
        )
    return qonto_id


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"record_version must be an int >= 0, got {version!r}")
    return version


def _check_content_type(content_type: str) -> str:
    normalized = content_type.strip().lower() if isinstance(content_type, str) else ""
    if not _CONTENT_TYPE_RE.fullmatch(normalized):
        raise ValueError(f"content_type {ascii(content_type)} is not a MIME type")
    if normalized not in MELIO_ACCEPTED_CONTENT_TYPES:
        raise ValueError(
            f"content_type {normalized!r} is not one Melio turns into a bill "
            f"({', '.join(MELIO_ACCEPTED_CONTENT_TYPES)}); convert the document or handle it by hand"
        )
    return normalized


def bill_message_id(qonto_id: str, record_version: int, from_address: str) -> str:
    """`<well.{qonto_id}.v{version}@{domain of from_address}>`, the id %-escaped to RFC 5322 atext."""
    _check_qonto_id(qonto_id)
    _check_version(record_version)
    domain = validate_address(from_address).split("@")[1].lower()
    escaped = "".join(chr(b) if b in _MSGID_SAFE else f"%{b:02X}" for b in qonto_id.encode("utf-8"))
    return f"<well.{escaped}.v{record_version}@{domain}>"


def bill_subject(bill: BillEmail) -> str:
    """`Invoice {number} from {supplier} [Qonto {qonto_id}]`, "unknown" for a missing number or supplier."""
    number = _one_line(bill.invoice_number, _MAX_NUMBER_CHARS) or UNKNOWN
    supplier = _one_line(bill.supplier_name, _MAX_SUPPLIER_CHARS) or UNKNOWN
    return f"Invoice {number} from {supplier} [Qonto {_check_qonto_id(bill.qonto_id)}]"


def attachment_filename(qonto_id: str, original: str | None, content_type: str) -> str:
    """`"{qonto_id}_{sanitised original name}"`, always ending in an extension matching `content_type`.

    Sanitising keeps only the last path component (both / and \\ count), replaces control, format and
    separator characters (line breaks, NUL, bidi overrides that make "fdp.exe" read as "exe.pdf") with
    spaces, collapses whitespace, drops leading dots and shortens very long names while keeping the extension.
    A missing or unusable name becomes "invoice". When the name's extension does not fit the content type,
    the canonical one is appended ("scan" -> "scan.pdf", "x.heic" as image/jpeg -> "x.heic.jpg").
    """
    _check_qonto_id(qonto_id)
    content_type = _check_content_type(content_type)
    extensions = MELIO_ACCEPTED_CONTENT_TYPES[content_type]
    name = original if isinstance(original, str) else ""
    name = re.split(r"[/\\]", name)[-1]
    name = _one_line(name, 10_000).lstrip(". ").rstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext and "." + ext.lower() in extensions:
        ext = "." + ext
    else:
        stem, ext = name, extensions[0]
    stem = stem.rstrip(". ")
    if len(stem) > _MAX_FILENAME_CHARS:
        stem = stem[:_MAX_FILENAME_CHARS].rstrip(". ")
    return f"{qonto_id.replace(':', '_')}_{stem or 'invoice'}{ext}"


def _total(bill: BillEmail) -> str:
    """`22.80 EUR` via the shared `format_money` (DuckDB hands amounts over as "22.800000000").

    A missing or unreadable amount reads "unknown", never "None" or "nan". The body is informational (Melio
    reads the attachment), so an odd amount never stops a send.
    """
    return format_money(bill.amount, _one_line(bill.currency, 8)) or UNKNOWN


def _body(bill: BillEmail, filename: str) -> str:
    return (
        "This e-mail was sent by Well to create one Melio bill from one Qonto supplier invoice.\n"
        "\n"
        f"Qonto invoice id: {bill.qonto_id}\n"
        f"Record version: {bill.record_version}\n"
        f"Supplier: {_one_line(bill.supplier_name, _MAX_SUPPLIER_CHARS) or UNKNOWN}\n"
        f"Invoice number: {_one_line(bill.invoice_number, _MAX_NUMBER_CHARS) or UNKNOWN}\n"
        f"Total: {_total(bill)}\n"
        f"Attachment: {filename}\n"
    )


# CRLF line ends and 78-column folding; `refold_source="none"` keeps the Subject exactly as
# `_folded_subject` folded it (header objects set with `msg[name] = value` are still folded by the policy).
BILL_EMAIL_POLICY = email_policy.SMTP.clone(refold_source="none")


def _folded_subject(subject: str) -> str:
    """The Subject value, folded to lines of at most 78 characters, that every parser reads back unchanged.

    Plain ASCII is folded at spaces. Non-ASCII text, text containing "=?" (which a reader would take for an
    encoded word) and ASCII with a word too long to fold become RFC 2047 UTF-8 encoded words, split anywhere
    (spaces inside the words, so none is lost when a reader joins them). CPython's own folder is not used
    because it can drop the space between two encoded words, or fold right after "Subject:", and then the
    subject a reader sees differs from the one built.
    """
    def fits(folded: str) -> bool:
        return all(len(line) <= 78 for line in f"Subject: {folded}".split("\r\n"))

    if subject.isascii() and "=?" not in subject:
        folded = Header(subject, "us-ascii", header_name="Subject", maxlinelen=78).encode(linesep="\r\n")
        if fits(folded) and " ".join(folded.split("\r\n ")) == subject:
            return folded
    folded = Header(subject, "utf-8", header_name="Subject", maxlinelen=78).encode(linesep="\r\n")
    if not fits(folded):  # not expected: Header splits encoded words to the line length
        raise ValueError("subject could not be folded to 78 columns")
    return folded


def build_bill_email(bill: BillEmail, *, now: datetime | None = None) -> EmailMessage:
    """Build the e-mail for one bill (see the module docstring). Raises ValueError for unusable input.

    Refused: an invalid To/From address, an empty or over-10-MB document, a content type Melio does not
    read, a qonto_id that is not printable ASCII. `now` (default: the current UTC time) sets the Date header.
    """
    _check_qonto_id(bill.qonto_id)
    _check_version(bill.record_version)
    validate_address(bill.to_address)
    validate_address(bill.from_address)
    content_type = _check_content_type(bill.content_type)
    if not isinstance(bill.document, (bytes, bytearray, memoryview)):
        raise ValueError("document must be bytes")
    document = bytes(bill.document)
    if not document:
        raise ValueError(f"document of Qonto invoice {bill.qonto_id} is empty")
    if len(document) > MELIO_MAX_ATTACHMENT_BYTES:
        raise ValueError(
            f"document of Qonto invoice {bill.qonto_id} is {len(document)} bytes; Melio reads attachments "
            f"of at most {MELIO_MAX_ATTACHMENT_BYTES} bytes"
        )
    filename = attachment_filename(bill.qonto_id, bill.document_filename, content_type)
    subject = bill_subject(bill)
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    message = EmailMessage(policy=BILL_EMAIL_POLICY)
    message["From"] = bill.from_address
    message["To"] = bill.to_address
    message.set_raw("Subject", _folded_subject(subject))
    message["Date"] = format_datetime(moment)
    message["Message-ID"] = bill_message_id(bill.qonto_id, bill.record_version, bill.from_address)
    message["X-Well-Qonto-Id"] = bill.qonto_id
    message["X-Well-Record-Version"] = str(bill.record_version)
    message.set_content(_body(bill, filename), charset="utf-8", cte="quoted-printable")
    maintype, subtype = content_type.split("/")
    message.add_attachment(document, maintype=maintype, subtype=subtype, filename=filename)
    for part in message.iter_parts():
        del part["MIME-Version"]  # only the top level needs it; the policy adds it to each part
    # A boundary derived from the content (not random) makes the bytes reproducible for a given `now`.
    # "=_" cannot occur in base64 or in a quoted-printable line start, so it never collides with content.
    digest = hashlib.sha256(b"%s\0%d\0" % (bill.qonto_id.encode(), bill.record_version) + document).hexdigest()
    message.set_boundary(f"=_well_{digest[:32]}")
    return message
