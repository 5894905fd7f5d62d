"""What the inbox keeps: received messages, their attachments, draft bills and rejections.

Plain frozen dataclasses with a JSON round trip, because the same records are written to `inbox.jsonl`,
read back by a restarted inbox or by `well sandbox melio-inbox`, and asserted on by tests. Dates and
amounts stay strings as printed ("2026-01-31", "1234.56"): no float rounding, and equality with the
generator's ground truth is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple


class Attachment(NamedTuple):
    """One attachment of a message, as a tuple (filename, content_type, sha256, size) with names."""

    filename: str | None  # decoded (RFC 2231 / RFC 2047); None when the part has no name
    content_type: str  # declared, lower-case, without parameters
    sha256: str  # of the decoded bytes
    size: int  # decoded bytes


@dataclass(frozen=True)
class DraftBill:
    """The bill Melio drafts from one accepted attachment (fields null where capture read nothing)."""

    message_ordinal: int
    message_id: str | None
    attachment_index: int  # position in ReceivedMessage.attachments
    filename: str | None
    content_type: str
    sha256: str
    vendor: str | None
    invoice_number: str | None
    invoice_date: str | None  # YYYY-MM-DD, optional in Melio
    amount: str | None  # decimal as printed, e.g. "1234.56" (negative for credit notes)
    currency: str | None  # ISO 4217
    due_date: str  # YYYY-MM-DD; today (UTC) when the document states none
    due_date_defaulted: bool
    source: str  # "pdf_text" | "pdf_no_text" | "image"

    @property
    def id(self) -> str:
        """Stable identifier: message ordinal and attachment index."""
        return f"{self.message_ordinal:06d}-{self.attachment_index}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (the inbox.jsonl form)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DraftBill:
        """Inverse of to_json; unknown keys are ignored so older/newer stores stay readable."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Rejection:
    """An attachment Melio would not turn into a bill, and why (readable text plus a stable code)."""

    attachment_index: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    code: str  # unsupported_type | content_mismatch | too_large | empty | unreadable
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rejection:
        """Inverse of to_json."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the inbox accepted (answered 250, or stored before a drop_after_data fault)."""

    ordinal: int  # 1, 2, ... in order of receipt; names the .eml file
    message_id: str | None  # the Message-ID header as sent, e.g. "<abc@well>"
    mail_from: str  # SMTP envelope sender
    rcpt_tos: tuple[str, ...]  # SMTP envelope recipients that were accepted
    subject: str | None  # decoded from RFC 2047
    headers: dict[str, str]  # top-level headers, decoded; first occurrence of each name
    attachments: tuple[Attachment, ...]
    drafts: tuple[DraftBill, ...]
    rejections: tuple[Rejection, ...]
    received_at: datetime  # aware, UTC
    eml_path: Path
    size: int  # bytes of the raw message
    listener: str  # "starttls" | "tls"
    auth_user: str | None
    delivered_reply_sent: bool = True  # False when a drop_after_data fault swallowed the 250

    def raw(self) -> bytes:
        """The message exactly as received after DATA (dot-unstuffed), from the .eml file."""
        return self.eml_path.read_bytes()

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name (decoded), or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def qonto_id(self) -> str | None:
        """The X-Well-Qonto-Id header (Well's idempotency marker), or None."""
        return self.header("X-Well-Qonto-Id")

    @property
    def from_header(self) -> str | None:
        """The From header (decoded)."""
        return self.header("From")

    @property
    def to_header(self) -> str | None:
        """The To header (decoded)."""
        return self.header("To")

    def to_json(self, store_dir: Path) -> dict[str, Any]:
        """JSON-ready dict; the .eml path is stored relative to the store directory."""
        try:
            eml = self.eml_path.relative_to(store_dir).as_posix()
        except ValueError:
            eml = str(self.eml_path)
        return {
            "ordinal": self.ordinal,
            "message_id": self.message_id,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "headers": self.headers,
            "attachments": [a._asdict() for a in self.attachments],
            "drafts": [d.to_json() for d in self.drafts],
            "rejections": [r.to_json() for r in self.rejections],
            "received_at": self.received_at.isoformat(),
            "eml": eml,
            "size": self.size,
            "listener": self.listener,
            "auth_user": self.auth_user,
            "delivered_reply_sent": self.delivered_reply_sent,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], store_dir: Path) -> ReceivedMessage:
        """Inverse of to_json."""
        return cls(
            ordinal=int(data["ordinal"]),
            message_id=data.get("message_id"),
            mail_from=data.get("mail_from", ""),
            rcpt_tos=tuple(data.get("rcpt_tos", ())),
            subject=data.get("subject"),
            headers=dict(data.get("headers", {})),
            attachments=tuple(Attachment(**a) for a in data.get("attachments", ())),
            drafts=tuple(DraftBill.from_json(d) for d in data.get("drafts", ())),
            rejections=tuple(Rejection.from_json(r) for r in data.get("rejections", ())),
            received_at=datetime.fromisoformat(data["received_at"]),
            eml_path=store_dir / data["eml"],
            size=int(data.get("size", 0)),
            listener=data.get("listener", ""),
            auth_user=data.get("auth_user"),
            delivered_reply_sent=bool(data.get("delivered_reply_sent", True)),
        )
