"""Reading a received message: decoded headers and attachment parts.

Uses the stdlib's modern parser (policy.default), which decodes RFC 2047 subjects and RFC 2231 filenames the
way real mail systems do. Parsing never raises: a malformed message is still kept, with what could be read,
because Melio keeps every email it receives and a sandbox that crashes on odd input hides mailer bugs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from .models import Attachment


@dataclass(frozen=True)
class ParsedMessage:
    """Headers and attachment parts of one raw message."""

    message_id: str | None
    subject: str | None
    headers: dict[str, str]
    parts: tuple[tuple[Attachment, bytes], ...]


def _header_text(message: Message, name: str, raw_value: str) -> str:
    try:
        value = message[name]
        return str(value) if value is not None else raw_value
    except Exception:  # noqa: BLE001 - a malformed header must not lose the message
        return raw_value


def _headers(message: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw_value in message.raw_items():
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        headers[name] = _header_text(message, name, str(raw_value)).strip()
    return headers


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        return None
    if name is None:
        return None
    return str(name).strip() or None


def _is_attachment(part: Message) -> bool:
    """Melio reads attachments, not bodies: a part counts if it is marked attachment or carries a name."""
    if part.is_multipart():
        return False
    return part.get_content_disposition() == "attachment" or _filename(part) is not None


def _payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        return payload
    text = part.get_payload()
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""


def parse_message(raw: bytes) -> ParsedMessage:
    """Decode `raw` (an RFC 5322 message as received after DATA)."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    headers = _headers(message)
    lower = {name.lower(): value for name, value in headers.items()}
    parts: list[tuple[Attachment, bytes]] = []
    for part in message.walk():
        if not _is_attachment(part):
            continue
        data = _payload(part)
        attachment = Attachment(
            filename=_filename(part),
            content_type=part.get_content_type().lower(),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        parts.append((attachment, data))
    return ParsedMessage(
        message_id=lower.get("message-id") or None,
        subject=lower.get("subject"),
        headers=headers,
        parts=tuple(parts),
    )
