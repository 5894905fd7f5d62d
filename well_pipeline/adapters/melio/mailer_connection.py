"""Opening one SMTP connection to the relay: TCP, TLS 1.3 (implicit or STARTTLS), EHLO and AUTH, all under the
attempt's deadline, with every failure sorted into "retry later" or "fix the configuration".

- `RetryableFailure` (stage CONNECT): the relay is down, slow, or answered 4xx; a later attempt may succeed.
- `MailerTlsError` / `MailerAuthError`: certificate not trusted, TLS 1.3 not offered, STARTTLS missing, the
  credentials refused: no retry can fix them, the text names the settings to change. There is never a fallback
  to plain text or to TLS 1.2. A relay that ends the TLS 1.3 handshake without a word is asked once more for a
  TLS 1.2 handshake (nothing is ever sent over it): if that succeeds, the relay cannot speak TLS 1.3 and that
  is a `MailerTlsError`, not a network problem to retry for hours.

`TrackingSMTP.data()` is CPython's `SMTP.data()` with one addition: `message_transmitted` becomes True right after
the message and its terminator were written, before the reply is read; the mailer uses it to tell "certainly
not delivered" from "maybe delivered". The password is never in an error text (scrubbed, and errors are raised
outside the `except` block so no traceback frame holds it).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

from well_pipeline.adapters.melio.mailer_errors import (
    AUTH_SETTINGS,
    CERTIFICATE_SETTINGS,
    STARTTLS_FIX,
    STARTTLS_SETTINGS,
    TLS_FIX,
    TLS_SETTINGS,
    MailerAuthError,
    MailerError,
    MailerTlsError,
)
from well_pipeline.adapters.melio.mailer_results import RetryableFailure, describe, reply_text
from well_pipeline.adapters.melio.smtp_deadline import DeadlineClock
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.core.delivery.quota import is_quota_reply

__all__ = ["SmtpConfig", "SmtpConnector", "TrackingSMTP", "TrackingSMTPSSL"]


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect; checked when made (see `SmtpMailer` for the meaning of each field)."""

    host: str
    port: int
    security: Literal["starttls", "tls"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    timeout_s: float = 30
    deadline_s: float | None = 120.0
    ca_file: str | None = None
    local_hostname: str | None = None  # passed to EHLO; None = smtplib's default (the machine's FQDN)

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "tls"):
            raise ValueError(f"security must be 'starttls' or 'tls', got {self.security!r}")
        if self.password is not None and not isinstance(self.password, Secret):
            raise TypeError("password must be a Secret (never a plain str)")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (both set, or both None for no AUTH)")
        if self.password is not None and not self.password.reveal().isascii():
            raise ValueError("the SMTP password must be ASCII (smtplib sends AUTH PLAIN/LOGIN as ASCII)")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s must be > 0 (or None for no overall deadline)")

    def __repr__(self) -> str:
        return (f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r}, password={'***' if self.password else None})")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class _TransmissionTracking:
    """Mixin over smtplib's classes: `data()` records when the whole message has been written, before reading the
    final reply; sockets are made by the mailer's `DeadlineClock` (every wait ends by the attempt's deadline)."""

    message_transmitted: bool = False
    deadline_clock: DeadlineClock | None = None
    source_address: tuple[str, int] | None

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        clock = self.deadline_clock or DeadlineClock(timeout or socket.getdefaulttimeout() or 60.0)
        sock = clock.connect(host, port, self.source_address)
        context = getattr(self, "context", None)  # SMTP_SSL: TLS from the first byte
        if isinstance(self, smtplib.SMTP_SSL) and context is not None:
            return clock.wrap(context, sock, server_hostname=host)
        return sock

    def data(self, msg: bytes) -> tuple[int, bytes]:  # type: ignore[override]
        # Copy of CPython 3.11 smtplib.SMTP.data for bytes input, plus the `message_transmitted` flag.
        self.message_transmitted = False
        self.putcmd("data")  # type: ignore[attr-defined]
        code, repl = self.getreply()  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        quoted = smtplib._quote_periods(msg)  # type: ignore[attr-defined]
        if quoted[-2:] != smtplib.bCRLF:
            quoted = quoted + smtplib.bCRLF
        quoted = quoted + b"." + smtplib.bCRLF
        self.send(quoted)  # type: ignore[attr-defined]
        # From here on the server has (or may have) everything it needs to accept the message.
        self.message_transmitted = True
        return self.getreply()  # type: ignore[attr-defined]


class TrackingSMTP(_TransmissionTracking, smtplib.SMTP):
    """`smtplib.SMTP` (STARTTLS) with `message_transmitted` and deadline-bound sockets."""


class TrackingSMTPSSL(_TransmissionTracking, smtplib.SMTP_SSL):
    """`smtplib.SMTP_SSL` (TLS from the first byte) with `message_transmitted` and deadline-bound sockets."""


def _tls13_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class SmtpConnector:
    """Opens authenticated TLS 1.3 connections to one relay (see the module docstring); holds none itself."""

    def __init__(self, config: SmtpConfig, clock: DeadlineClock) -> None:
        self.config = config
        self._clock = clock
        self._tls_context = _tls13_context(config.ca_file)

    def open(self) -> smtplib.SMTP:
        """A ready connection; raises `RetryableFailure` (stage CONNECT) or a `MailerError`."""
        config = self.config
        error: tuple[type[MailerError], str, tuple[str, ...]] | None = None
        hung_up: str | None = None
        conn: smtplib.SMTP | None = None
        where = config.where
        try:
            conn = self._connect()
        except MailerError:
            raise
        except ssl.SSLCertVerificationError as exc:
            error = (MailerTlsError, f"TLS certificate of {where} not trusted: {exc.verify_message}. Fix the "
                     "setting smtp_ca_file (the relay's CA certificate) or smtp_host (the name on its certificate)",
                     CERTIFICATE_SETTINGS)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            hung_up = describe(exc)  # the peer ended the handshake without a word: see below
        except ssl.SSLError as exc:
            error = (MailerTlsError, f"TLS 1.3 handshake with {where} failed: {exc.reason or exc}. {TLS_FIX}",
                     TLS_SETTINGS)
        except smtplib.SMTPAuthenticationError as exc:
            reply = self.scrub(reply_text(exc.smtp_error))
            if 400 <= exc.smtp_code < 500:  # e.g. 454 temporary authentication failure
                raise RetryableFailure("CONNECT", exc.smtp_code, reply, drop_connection=True,
                                       quota=is_quota_reply(exc.smtp_code, reply)) from None
            error = (
                MailerAuthError,
                f"SMTP authentication as {config.username!r} on {where} failed: {exc.smtp_code} {reply}. Fix the "
                "setting smtp_username or the secret smtp_password (`well secrets set smtp_password`)",
                AUTH_SETTINGS,
            )
        except smtplib.SMTPResponseException as exc:
            # A 4xx/5xx greeting, EHLO or STARTTLS reply (e.g. 454 TLS not available right now).
            reply = self.scrub(reply_text(exc.smtp_error))
            raise RetryableFailure("CONNECT", exc.smtp_code, reply, drop_connection=True,
                                   quota=is_quota_reply(exc.smtp_code, reply)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableFailure("CONNECT", None, self.scrub(describe(exc)), drop_connection=True) from None
        if hung_up is not None:
            # A relay that cannot speak TLS 1.3 often just closes the connection (no alert), like a network
            # problem would. One TLS 1.2 handshake tells the two apart: if it succeeds, retrying cannot help.
            if not self._speaks_only_tls12():
                raise RetryableFailure("CONNECT", None, hung_up, drop_connection=True)
            error = (MailerTlsError, f"{where} offers TLS 1.2 at most; Well requires TLS 1.3 and never falls back "
                     f"({hung_up}). {TLS_FIX}", TLS_SETTINGS)
        if error is not None:
            # Raised outside the except block: no chained traceback (whose frames hold the revealed password).
            raise error[0](error[1], settings=error[2])
        assert conn is not None
        return conn

    def scrub(self, text: str) -> str:
        """Belt and braces: a server that echoes the password in an error text must not leak it to logs."""
        password = self.config.password
        if password is not None and password.reveal() and password.reveal() in text:
            text = text.replace(password.reveal(), "***")
        return text

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        conn: smtplib.SMTP
        # Made without a host, so the deadline clock is in place before `connect` opens the socket.
        if config.security == "tls":
            conn = TrackingSMTPSSL(local_hostname=config.local_hostname, timeout=config.timeout_s,
                                   context=self._tls_context)
        else:
            conn = TrackingSMTP(local_hostname=config.local_hostname, timeout=config.timeout_s)
        conn.deadline_clock = self._clock  # type: ignore[attr-defined]
        try:
            code, greeting = conn.connect(config.host, config.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            # Commands and replies are small and strictly alternating; without TCP_NODELAY, Nagle's algorithm
            # holds the tail of each message until the server's delayed ACK (~40 ms per e-mail on Linux).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if config.security == "starttls":
                self._starttls(conn)
            conn.ehlo()
            if config.username is not None and config.password is not None:
                if not conn.has_extn("auth"):
                    raise MailerAuthError(f"{config.where} offers no AUTH after TLS; cannot log in. Fix "
                                          "the setting smtp_username (empty: no AUTH) or smtp_host",
                                          settings=("smtp_username", "smtp_host"))
                self._login(conn)
        except BaseException:
            try:
                conn.close()
            except OSError:
                pass
            raise
        return conn

    def _starttls(self, conn: smtplib.SMTP) -> None:
        """Upgrade a plain-text connection with STARTTLS, or refuse (never send in plain text)."""
        where = self.config.where
        conn.ehlo()
        if not conn.has_extn("starttls"):
            raise MailerTlsError(
                f"{where} does not offer STARTTLS; refusing to send in plain text. {STARTTLS_FIX}",
                settings=STARTTLS_SETTINGS,
            )
        code, reply = conn.docmd("STARTTLS")
        if 400 <= code < 500:  # 454 TLS not available due to a temporary reason
            raise smtplib.SMTPResponseException(code, reply)
        if code != 220:
            raise MailerTlsError(
                f"{where} refused STARTTLS ({code} {reply_text(reply)}); refusing to send in plain text. "
                f"{STARTTLS_FIX}", settings=STARTTLS_SETTINGS,
            )
        conn.sock = self._clock.wrap(self._tls_context, conn.sock, server_hostname=self.config.host)
        conn.file = None
        # RFC 3207: forget everything learnt before TLS.
        conn.helo_resp = None
        conn.ehlo_resp = None
        conn.esmtp_features = {}
        conn.does_esmtp = False

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH with ONE mechanism (PLAIN, else LOGIN). smtplib's `login()` would try every advertised
        mechanism in turn, so a wrong password would count as several failures towards a lockout."""
        config = self.config
        assert config.username is not None and config.password is not None
        offered = conn.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise MailerAuthError(
                f"{config.where} offers no AUTH PLAIN or LOGIN after TLS (offers: {' '.join(offered)}). "
                "Fix the setting smtp_host (a relay with password login) or smtp_username (empty: no AUTH)",
                settings=("smtp_host", "smtp_username"),
            )
        conn.user, conn.password = config.username, config.password.reveal()
        try:
            authobject = conn.auth_plain if mechanism == "PLAIN" else conn.auth_login
            code, reply = conn.auth(mechanism, authobject, initial_response_ok=True)
        finally:
            conn.password = ""  # smtplib keeps it on the object for the auth callbacks only
        if code not in (235, 503):  # 503: already authenticated
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _speaks_only_tls12(self) -> bool:
        """True when the server completes a TLS 1.2 handshake (after it ended a TLS 1.3 one without a word).

        Only the handshake (after EHLO and STARTTLS in plain text for `starttls`): the connection is closed right
        after it, so no credentials and no mail ever travel over TLS 1.2. A certificate the client refuses also
        proves the server got that far in TLS 1.2.
        """
        config = self.config
        context = ssl.create_default_context(cafile=config.ca_file)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        timeout = min(config.timeout_s, config.deadline_s or config.timeout_s)
        probe: smtplib.SMTP | None = None
        sock: socket.socket | None = None
        try:
            if config.security == "starttls":
                probe = smtplib.SMTP(config.host, config.port, local_hostname=config.local_hostname, timeout=timeout)
                probe.ehlo()
                if not probe.has_extn("starttls") or probe.docmd("STARTTLS")[0] != 220:
                    return False
                sock = probe.sock
            else:
                sock = socket.create_connection((config.host, config.port), timeout)
            with context.wrap_socket(sock, server_hostname=config.host):
                return True
        except ssl.SSLCertVerificationError:
            return True
        except (smtplib.SMTPException, OSError):
            return False
        finally:
            if sock is not None:
                sock.close()
            if probe is not None:
                probe.close()
