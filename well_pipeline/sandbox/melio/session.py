"""One SMTP connection: aiosmtpd's protocol plus the few behaviours it has no hook for.

- Implicit TLS: aiosmtpd only counts STARTTLS as "encrypted", so on the SMTPS listener AUTH would be refused
  with auth_require_tls=True; the connection is marked as TLS from the first byte instead.
- Faults that must act around a reply: close the connection after a 421, drop it instead of replying
  (`after_push`), and strike at DATA before the 354 (aiosmtpd has no pre-354 hook).
- Connection bookkeeping for stats and for closing live connections on stop().
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Session, syntax

from .handler import InboxHandler


class _QuietSession(Session):
    """aiosmtpd's Session warns on every use of the legacy `login_data`, which its own AUTH code sets on each
    successful login; the sandbox reads `auth_data` instead and keeps the log free of that noise."""

    @property  # type: ignore[override]
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class InboxSMTP(SMTP):
    """aiosmtpd SMTP protocol for one client connection of the Melio inbox sandbox."""

    def __init__(
        self,
        handler: InboxHandler,
        *,
        listener: str,
        on_open: Callable[[InboxSMTP], None],
        on_close: Callable[[InboxSMTP], None],
        **smtp_kwargs: Any,
    ) -> None:
        super().__init__(handler, **smtp_kwargs)
        self.inbox_handler = handler
        self.listener = listener  # "starttls" | "tls"
        self.messages_on_connection = 0
        # What to do with the next reply: None (send it), "close" (send, then close), "drop" (close instead).
        self.after_push: str | None = None
        self._on_open = on_open
        self._on_close = on_close
        self._opened = False

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    # ----- connection lifecycle --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = not self._opened
        super().connection_made(transport)
        if not first:
            return  # the STARTTLS upgrade re-enters here with the TLS transport
        self._opened = True
        if self.listener == "tls":
            # The listener wrapped the socket before the greeting: count it as TLS for AUTH/EHLO purposes.
            self._tls_protocol = getattr(transport, "_ssl_protocol", None) or True  # type: ignore[assignment]
        self._on_open(self)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._on_close(self)

    @property
    def peer(self) -> Any:
        """Client address (host, port)."""
        return self.session.peer if self.session is not None else None

    @property
    def login_name(self) -> str | None:
        """The authenticated login, if any (not named auth_*: aiosmtpd treats auth_* members as AUTH mechanisms)."""
        if self.session is None or not self.session.authenticated:
            return None
        login = getattr(self.session.auth_data, "login", None)
        return login.decode("utf-8", "replace") if isinstance(login, bytes) else None

    def abort(self) -> None:
        """Close the socket at once, without replying (a crashed relay or a cut network)."""
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the connection in an orderly way (TLS close_notify, then FIN)."""
        if self.transport is not None:
            self.transport.close()

    # ----- replies -----------------------------------------------------------------------------------
    async def push(self, status: str | bytes) -> None:
        action, self.after_push = self.after_push, None
        if action == "drop":
            self.abort()
            return
        await super().push(status)
        if action == "close":
            self.close()

    # ----- DATA: faults before the 354 ---------------------------------------------------------------
    def _ready_for_data(self, arg: str | None) -> bool:
        """Whether aiosmtpd would answer this DATA with 354 (only then can a DATA-stage fault strike)."""
        session, envelope = self.session, self.envelope
        if session is None or envelope is None or arg:
            return False
        if not session.host_name:
            return False
        if self._auth_required and not session.authenticated:
            return False
        return bool(envelope.rcpt_tos)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self._ready_for_data(arg):
            fault = self.inbox_handler.take_fault("DATA", self)
            if fault is not None and fault.kind == "delay":
                await self.inbox_handler.delay(fault)
            elif fault is not None:
                if fault.kind == "drop_before_data":
                    self.abort()
                    return
                if fault.closes_connection:
                    self.after_push = "close"
                await self.push(fault.reply_line)
                return
        await super().smtp_DATA(arg)
