"""Persistent inbox: `DIR/messages/<ordinal>.eml` plus one JSON line per message in `DIR/inbox.jsonl`.

Melio keeps every email sent to the inbox, so the sandbox does too, on disk: a restarted sandbox (a new
MelioInbox on the same DIR) and `well sandbox melio-inbox DIR` see earlier messages, which is what lets
tests prove that a retried delivery did not create a second bill. The raw .eml is written first (atomically,
via rename) and the JSON line second, so a crash can leave an orphan .eml but never a record without bytes;
ordinals are never reused. A torn last JSON line (crash mid-write) is skipped on load.

Each `...@invoicesmelio.com` address is one Melio workspace's inbox, so reads can be narrowed to one
address (`to=`): a message belongs to every inbox it was addressed to in the SMTP envelope (RCPT TO, so a
Bcc counts and the To header does not decide), compared case-insensitively as the RCPT rule does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from .intake import Envelope, build_record
from .models import DraftBill, ReceivedMessage

logger = logging.getLogger("well.sandbox.melio")

MESSAGES_DIR = "messages"
INDEX_FILE = "inbox.jsonl"


def addressed_to(message: ReceivedMessage, address: str) -> bool:
    """True if `address` was one of the message's envelope recipients (case-insensitive)."""
    wanted = address.strip().lower()
    return any(recipient.lower() == wanted for recipient in message.rcpt_tos)


class InboxStore:
    """Thread-safe append-only message store (one writer process per directory)."""

    def __init__(self, directory: str | Path, *, create: bool = True) -> None:
        self.directory = Path(directory)
        self.messages_dir = self.directory / MESSAGES_DIR
        self.index_path = self.directory / INDEX_FILE
        if create:
            self.messages_dir.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise FileNotFoundError(f"no Melio inbox store at {self.directory}")
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = self._load()
        self._next_ordinal = self._first_free_ordinal()

    # ----- loading ---------------------------------------------------------------------------------
    def _load(self) -> list[ReceivedMessage]:
        if not self.index_path.exists():
            return []
        messages: dict[int, ReceivedMessage] = {}
        with self.index_path.open("r", encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = ReceivedMessage.from_json(json.loads(line), self.directory)
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("%s line %d unreadable, skipped: %s", self.index_path, number, exc)
                    continue
                messages[record.ordinal] = record
        return [messages[ordinal] for ordinal in sorted(messages)]

    def _first_free_ordinal(self) -> int:
        highest = max((message.ordinal for message in self._messages), default=0)
        if self.messages_dir.is_dir():
            for path in self.messages_dir.glob("*.eml"):
                if path.stem.isdigit():
                    highest = max(highest, int(path.stem))
        return highest + 1

    # ----- writing ---------------------------------------------------------------------------------
    def add(
        self,
        raw: bytes,
        envelope: Envelope,
        *,
        max_attachment_bytes: int,
        delivered_reply_sent: bool = True,
    ) -> ReceivedMessage:
        """Keep one message: write its .eml, analyse it, append its JSON line; returns the record."""
        with self._lock:
            ordinal = self._next_ordinal
            self._next_ordinal += 1
            eml_path = self.messages_dir / f"{ordinal:06d}.eml"
            temporary = eml_path.with_suffix(".eml.part")
            temporary.write_bytes(raw)
            os.replace(temporary, eml_path)
            record = build_record(
                raw,
                envelope,
                ordinal=ordinal,
                eml_path=eml_path,
                max_attachment_bytes=max_attachment_bytes,
                delivered_reply_sent=delivered_reply_sent,
            )
            line = json.dumps(record.to_json(self.directory), ensure_ascii=False, sort_keys=True)
            with self.index_path.open("ab") as fh:
                if fh.tell() > 0 and not self._ends_with_newline():
                    fh.write(b"\n")  # seal a torn line left by a crash so this record stays parseable
                fh.write(line.encode("utf-8") + b"\n")
            self._messages.append(record)
            return record

    def _ends_with_newline(self) -> bool:
        with self.index_path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    # ----- reading ---------------------------------------------------------------------------------
    def messages(self, to: str | None = None) -> list[ReceivedMessage]:
        """Every kept message, oldest first; only those delivered to address `to` when given."""
        with self._lock:
            kept = list(self._messages)
        if to is None:
            return kept
        return [message for message in kept if addressed_to(message, to)]

    def drafts(self, to: str | None = None) -> list[DraftBill]:
        """Every draft bill, in message then attachment order; only those of inbox `to` when given."""
        return [draft for message in self.messages(to) for draft in message.drafts]

    def addresses(self) -> list[str]:
        """The inbox addresses that received at least one message, lower-cased, in order of first receipt."""
        seen: dict[str, None] = {}
        for message in self.messages():
            for recipient in message.rcpt_tos:
                seen.setdefault(recipient.lower(), None)
        return list(seen)

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
