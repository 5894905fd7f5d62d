"""Turning one received message into the inbox's record: attachments, draft bills, rejections.

Kept apart from the SMTP handler so the store can be filled (and tests can reason about capture) without a
socket, and so the handler can run this CPU/disk work off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .capture import draft_bill
from .mime import parse_message
from .models import DraftBill, ReceivedMessage, Rejection
from .rules import check_attachment


@dataclass(frozen=True)
class Envelope:
    """What the SMTP session knew about a message besides its bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    listener: str  # "starttls" | "tls"
    auth_user: str | None
    received_at: datetime  # aware, UTC


def build_record(
    raw: bytes,
    envelope: Envelope,
    *,
    ordinal: int,
    eml_path: Path,
    max_attachment_bytes: int,
    delivered_reply_sent: bool = True,
) -> ReceivedMessage:
    """Analyse `raw` as Melio's email-in would: one draft per accepted attachment, the rest rejected."""
    parsed = parse_message(raw)
    drafts: list[DraftBill] = []
    rejections: list[Rejection] = []
    today = envelope.received_at.date()
    for index, (attachment, data) in enumerate(parsed.parts):
        verdict = check_attachment(attachment.content_type, data, max_bytes=max_attachment_bytes)
        if verdict.accepted:
            assert verdict.kind is not None
            drafts.append(
                draft_bill(
                    message_ordinal=ordinal,
                    message_id=parsed.message_id,
                    attachment_index=index,
                    attachment=attachment,
                    data=data,
                    kind=verdict.kind,
                    today=today,
                )
            )
        else:
            rejections.append(
                Rejection(
                    attachment_index=index,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    size=attachment.size,
                    sha256=attachment.sha256,
                    code=verdict.code or "unreadable",
                    reason=verdict.reason or "unreadable attachment",
                )
            )
    return ReceivedMessage(
        ordinal=ordinal,
        message_id=parsed.message_id,
        mail_from=envelope.mail_from,
        rcpt_tos=envelope.rcpt_tos,
        subject=parsed.subject,
        headers=parsed.headers,
        attachments=tuple(attachment for attachment, _ in parsed.parts),
        drafts=tuple(drafts),
        rejections=tuple(rejections),
        received_at=envelope.received_at,
        eml_path=eml_path,
        size=len(raw),
        listener=envelope.listener,
        auth_user=envelope.auth_user,
        delivered_reply_sent=delivered_reply_sent,
    )
