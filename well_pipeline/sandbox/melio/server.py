"""MelioInbox: the Melio email-in inbox as a real SMTP server on loopback (see docs/CONTRACTS.md).

One asyncio loop in a background daemon thread runs two listeners over the same handler and store:
STARTTLS on `port` (plain TCP; everything but EHLO/NOOP/QUIT/STARTTLS is refused until TLS is up) and
implicit TLS on `tls_port`. Both only speak TLS 1.3 (`tls_version="1.2"` plays an old relay; `offer_starttls=False`
one that never upgrades) and only offer AUTH PLAIN/LOGIN once encrypted. aiosmtpd's
Controller is not used because it cannot bind port 0 (it probes the configured port to see the server come
up) and that probe would count as a client connection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509

from well_pipeline.sandbox.tls import CERT_FILE_NAME, KEY_FILE_NAME, generate_self_signed

from .config import InboxConfig
from .faults import FaultRegistry
from .handler import InboxHandler
from .models import DraftBill, ReceivedMessage
from .session import InboxSMTP
from .stats import InboxStats
from .store import InboxStore

logger = logging.getLogger("well.sandbox.melio")

TLS_DIR = "tls"
_START_TIMEOUT_S = 10.0


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """The self-signed pair in `directory`, generated unless one valid for at least another day is there.

    Reusing it across restarts keeps a client's CA file valid when the sandbox restarts on the same store.
    """
    cert_path, key_path = directory / CERT_FILE_NAME, directory / KEY_FILE_NAME
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
                return cert_path, key_path
        except ValueError:
            pass
    return generate_self_signed(directory)


def server_ssl_context(cert_path: Path, key_path: Path, *, version: str = "1.3") -> ssl.SSLContext:
    """A server context speaking exactly one TLS version.

    "1.3" (default): a TLS 1.2-max client fails the handshake. "1.2": a TLS 1.3-only client (Well) fails it;
    asyncio's TLS layer then closes the connection without an alert, as many relays do.
    """
    exact = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = exact
    context.maximum_version = exact
    context.load_cert_chain(str(cert_path), str(key_path))
    return context


class MelioInbox:
    """A running (or startable) Melio inbox sandbox keeping messages in `store_dir`."""

    def __init__(self, store_dir: str | Path, config: InboxConfig | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.config = config or InboxConfig()
        self._store = InboxStore(self.store_dir)
        self._faults = FaultRegistry()
        self._stats = InboxStats()
        self._handler: InboxHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[InboxSMTP] = set()
        self._ssl_context: ssl.SSLContext | None = None
        self._port: int | None = None
        self._tls_port: int | None = None
        self._cert_path: Path | None = None

    # ----- lifecycle -------------------------------------------------------------------------------
    def start(self) -> MelioInbox:
        """Bind both listeners (port 0 = ephemeral) and serve in a background thread; returns self."""
        if self._loop is not None:
            raise RuntimeError("inbox already started")
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            cert_path, key_path = Path(self.config.tls_cert), Path(self.config.tls_key)
        else:
            cert_path, key_path = ensure_certificate(self.store_dir / TLS_DIR)
        self._cert_path = cert_path
        self._ssl_context = server_ssl_context(cert_path, key_path, version=self.config.tls_version)
        self._handler = InboxHandler(self.config, self._store, self._faults, self._stats)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="melio-inbox", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(_START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Melio inbox sandbox on %s: STARTTLS port %d, TLS port %d, store %s",
            self.config.host, self.port, self.tls_port, self.store_dir,
        )
        return self

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        starttls = await loop.create_server(
            lambda: self._protocol("starttls"), self.config.host, self.config.port, reuse_address=True
        )
        self._servers.append(starttls)
        tls = await loop.create_server(
            lambda: self._protocol("tls"),
            self.config.host,
            self.config.tls_port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=10.0,
            reuse_address=True,
        )
        self._servers.append(tls)
        self._port = int(starttls.sockets[0].getsockname()[1])
        self._tls_port = int(tls.sockets[0].getsockname()[1])

    def _protocol(self, listener: str) -> InboxSMTP:
        assert self._handler is not None and self._loop is not None
        return InboxSMTP(
            self._handler,
            listener=listener,
            on_open=self._on_open,
            on_close=self._connections.discard,
            hostname=self.config.server_hostname,
            ident="Melio inbox sandbox",
            tls_context=self._ssl_context if listener == "starttls" and self.config.offer_starttls else None,
            require_starttls=True,  # aiosmtpd ignores it without a tls_context: mail is then refused (no AUTH)
            auth_required=self.config.require_auth,
            auth_require_tls=True,
            authenticator=self._handler.authenticate,
            data_size_limit=self.config.max_message_bytes,
            enable_SMTPUTF8=True,
            timeout=self.config.idle_timeout_s,
            loop=self._loop,
        )

    def _on_open(self, connection: InboxSMTP) -> None:
        self._connections.add(connection)
        self._stats.add("connections")

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.abort()
        for server in self._servers:
            await server.wait_closed()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    def stop(self) -> None:
        """Stop listening, cut open connections, end the loop thread. The store stays on disk."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(_START_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - stopping must not fail; the daemon thread dies with the process
            logger.debug("Melio inbox sandbox did not close cleanly", exc_info=True)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None
            if not loop.is_running():
                loop.close()
            self._servers = []
            self._connections.clear()

    def __enter__(self) -> MelioInbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The interface both listeners are bound to."""
        return self.config.host

    @property
    def port(self) -> int:
        """The STARTTLS port (after start; still readable after stop)."""
        if self._port is None:
            raise RuntimeError("inbox not started")
        return self._port

    @property
    def tls_port(self) -> int:
        """The implicit-TLS port (after start; still readable after stop)."""
        if self._tls_port is None:
            raise RuntimeError("inbox not started")
        return self._tls_port

    @property
    def cert_path(self) -> Path:
        """PEM certificate the listeners present; clients trust it as their CA file."""
        if self._cert_path is None:
            raise RuntimeError("inbox not started")
        return self._cert_path

    # ----- what was received -------------------------------------------------------------------------
    @property
    def store(self) -> InboxStore:
        """The underlying persistent store."""
        return self._store

    def messages(self, to: str | None = None) -> list[ReceivedMessage]:
        """Every kept message (including those from before a restart on the same store), oldest first; only
        those delivered to inbox address `to` when given (one workspace's inbox)."""
        return self._store.messages(to)

    def drafts(self, to: str | None = None) -> list[DraftBill]:
        """Every draft bill, in message then attachment order; only inbox `to`'s when given."""
        return self._store.drafts(to)

    def addresses(self) -> list[str]:
        """Inbox addresses that received mail so far (lower-cased, in order of first receipt)."""
        return self._store.addresses()

    # ----- test hooks ------------------------------------------------------------------------------
    def add_fault(
        self,
        kind: str,
        stage: str | None = None,
        code: int | None = None,
        times: int | None = 1,
        after_messages: int = 0,
        text: str | None = None,
        delay_s: float | None = None,
    ) -> dict[str, Any]:
        """Arm a fault (see faults.py); returns its description. Raises ValueError (FaultSpecError) if invalid."""
        accepted = self._handler.accepted_total if self._handler is not None else 0
        return self._faults.add(
            kind, stage=stage, code=code, text=text, times=times, after_messages=after_messages,
            accepted_now=accepted, delay_s=delay_s,
        ).describe()

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def release_delays(self) -> None:
        """End every `delay` fault waiting right now (each goes on as if its time were up).

        Lets a test hold a client in the middle of a send for as long as it needs (a long `delay_s`), check
        something, then let it finish, with no sleep in the test. Later delays wait normally.
        """
        if self._loop is not None and self._handler is not None:
            self._loop.call_soon_threadsafe(self._handler.release_delays)

    def faults(self) -> list[dict[str, Any]]:
        """Faults still armed."""
        return self._faults.active()

    def stats(self) -> dict[str, Any]:
        """Counters: connections, messages_accepted, messages_refused, faults_injected, delays_waiting (delay
        faults sleeping right now), auth_failures, max_messages_per_connection, rcpt_refused, starttls_failures,
        drafts_created, attachments_rejected."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters (armed faults keep counting from when they were added)."""
        self._stats.reset()
