"""The aiosmtpd handler: authentication, recipient rules, storing messages, injected faults.

aiosmtpd calls these hooks after its own protocol checks (EHLO, STARTTLS, AUTH), so each hook only adds
what Melio's inbox decides: which recipients exist, what happens to the received bytes, and where the
scripted failures strike. Blocking work (writing the .eml, parsing a 14 MB message) runs in the loop's
executor so one large delivery never stalls other connections.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from .config import InboxConfig
from .faults import Fault, FaultRegistry
from .intake import Envelope as IntakeEnvelope
from .stats import InboxStats
from .store import InboxStore

if TYPE_CHECKING:
    from .session import InboxSMTP

logger = logging.getLogger("well.sandbox.melio")


class InboxHandler:
    """Shared by every connection of both listeners; state lives in the store, faults and stats."""

    def __init__(self, config: InboxConfig, store: InboxStore, faults: FaultRegistry, stats: InboxStats) -> None:
        self.config = config
        self.store = store
        self.faults = faults
        self.stats = stats
        # Monotonic count of kept messages since start, for `after_messages` (unaffected by reset_stats).
        self._accepted_lock = threading.Lock()
        self._accepted_total = 0
        # Set by `release_delays` to end the delay faults sleeping at that moment (created on the loop).
        self._wake: asyncio.Event | None = None

    @property
    def accepted_total(self) -> int:
        """Messages kept since this server started."""
        with self._accepted_lock:
            return self._accepted_total

    # ----- faults ----------------------------------------------------------------------------------
    def take_fault(self, stage: str, server: InboxSMTP) -> Fault | None:
        """The fault striking this command at `stage`, if any (counted in stats, logged)."""
        fault = self.faults.take(stage, self.accepted_total)
        if fault is not None:
            self.stats.add("faults_injected")
            logger.debug(
                "fault #%d (%s %s%s) injected for %r", fault.id, fault.kind, stage,
                f" {fault.code}" if fault.code else "", server.peer,
            )
        return fault

    async def delay(self, fault: Fault) -> None:
        """Sleep for a delay fault (without blocking other connections), or until `release_delays`."""
        if self._wake is None:
            self._wake = asyncio.Event()
        wake = self._wake
        self.stats.add("delays_waiting")
        try:
            await asyncio.wait_for(wake.wait(), timeout=fault.delay_s or 0.0)
        except TimeoutError:
            pass
        finally:
            self.stats.add("delays_waiting", -1)

    def release_delays(self) -> None:
        """End the delays sleeping now (call on the server's loop); later ones wait afresh."""
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()

    def _fault_reply(self, fault: Fault, server: InboxSMTP) -> str:
        if fault.closes_connection:
            server.after_push = "close"
        return fault.reply_line

    # ----- authentication ----------------------------------------------------------------------------
    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator for PLAIN and LOGIN; constant-time comparison, the password is never logged."""
        ok = False
        if isinstance(auth_data, LoginPassword):
            login_ok = hmac.compare_digest(auth_data.login, self.config.username.encode("utf-8"))
            password_ok = hmac.compare_digest(auth_data.password, self.config.password.encode("utf-8"))
            ok = login_ok and password_ok
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        self.stats.add("auth_failures")
        logger.debug("AUTH %s failed for %r", mechanism, session.peer)
        # handled=False: aiosmtpd then answers 535 5.7.8 itself.
        return AuthResult(success=False, handled=False)

    # ----- SMTP hooks ------------------------------------------------------------------------------
    async def handle_MAIL(
        self, server: InboxSMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        fault = self.take_fault("MAIL", server)
        if fault is not None and fault.kind == "delay":
            await self.delay(fault)
        elif fault is not None:
            return self._fault_reply(fault, server)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: InboxSMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        fault = self.take_fault("RCPT", server)
        if fault is not None and fault.kind == "delay":
            await self.delay(fault)
        elif fault is not None:
            return self._fault_reply(fault, server)
        local, _, domain = address.rpartition("@")
        if not local or domain.lower() != self.config.accepted_domain.lower():
            self.stats.add("rcpt_refused")
            return (
                f"550 5.7.1 <{address}>: relay denied; this inbox only accepts "
                f"@{self.config.accepted_domain} addresses"
            )
        allowed = self.config.accepted_local_parts
        if allowed is not None and local.lower() not in {part.lower() for part in allowed}:
            self.stats.add("rcpt_refused")
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: InboxSMTP, session: Session, envelope: Envelope) -> str:
        fault = self.take_fault("END_OF_DATA", server)
        raw = envelope.original_content or b""
        if fault is not None and fault.kind == "reply":
            self.stats.add("messages_refused")
            logger.debug("message from %s refused at end of data (%d bytes, fault)", envelope.mail_from, len(raw))
            return self._fault_reply(fault, server)
        drop = fault is not None and fault.kind == "drop_after_data"
        intake = IntakeEnvelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            listener=server.listener,
            auth_user=server.login_name,
            received_at=datetime.now(UTC),
        )
        loop = asyncio.get_running_loop()
        try:
            record = await loop.run_in_executor(
                None,
                functools.partial(
                    self.store.add,
                    raw,
                    intake,
                    max_attachment_bytes=self.config.max_attachment_bytes,
                    delivered_reply_sent=not drop,
                ),
            )
        except OSError as exc:
            logger.warning("could not store a message from %s: %s", envelope.mail_from, exc)
            self.stats.add("messages_refused")
            return "451 4.3.0 Requested action aborted: local error in processing"
        with self._accepted_lock:
            self._accepted_total += 1
        server.messages_on_connection += 1
        self.stats.message_accepted(
            on_connection=server.messages_on_connection,
            drafts=len(record.drafts),
            rejected=len(record.rejections),
        )
        logger.debug(
            "message #%d %s subject=%r from=%s to=%s: %d attachment(s), %d draft(s), %d rejected%s",
            record.ordinal, record.message_id, record.subject, record.mail_from, ",".join(record.rcpt_tos),
            len(record.attachments), len(record.drafts), len(record.rejections),
            " (reply dropped by fault)" if drop else "",
        )
        if drop:
            server.after_push = "drop"
        elif fault is not None and fault.kind == "delay":
            await self.delay(fault)  # kept already: only the reply is late
        return f"250 2.0.0 OK: queued as {record.ordinal:06d}"

    async def handle_exception(self, error: Exception) -> str:
        """A failed STARTTLS handshake is counted; anything else is a sandbox bug, logged and answered 451."""
        if isinstance(error, TLSSetupException):
            self.stats.add("starttls_failures")
            logger.debug("STARTTLS handshake failed: %s", error.__cause__ or error)
            return "454 4.7.0 TLS not available due to temporary reason"
        logger.warning("Melio inbox sandbox error: %r", error, exc_info=error)
        return "451 4.3.0 Requested action aborted: local error in processing"
