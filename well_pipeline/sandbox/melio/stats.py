"""SMTP counters, so tests can assert what a mailer actually did (reconnects, retries, batching)."""

from __future__ import annotations

import threading
from typing import Any


class InboxStats:
    """Thread-safe counters behind MelioInbox.stats()."""

    _FIELDS = (
        "connections",
        "starttls_failures",
        "auth_failures",
        "rcpt_refused",
        "messages_accepted",
        "messages_refused",
        "faults_injected",
        "delays_waiting",
        "drafts_created",
        "attachments_rejected",
        "max_messages_per_connection",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        with self._lock:
            self._counts = dict.fromkeys(self._FIELDS, 0)

    def add(self, name: str, amount: int = 1) -> None:
        """Increment one counter."""
        with self._lock:
            self._counts[name] += amount

    def message_accepted(self, *, on_connection: int, drafts: int, rejected: int) -> None:
        """A message was kept; `on_connection` = messages kept so far on its connection (this one included)."""
        with self._lock:
            self._counts["messages_accepted"] += 1
            self._counts["drafts_created"] += drafts
            self._counts["attachments_rejected"] += rejected
            if on_connection > self._counts["max_messages_per_connection"]:
                self._counts["max_messages_per_connection"] = on_connection

    @property
    def messages_accepted(self) -> int:
        """Messages kept since start (or the last reset)."""
        with self._lock:
            return self._counts["messages_accepted"]

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain JSON values."""
        with self._lock:
            return dict(self._counts)
