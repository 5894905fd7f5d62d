"""SMTP delivery of bill e-mails to a Melio inbox, with an outcome that says whether a retry is safe.

Every e-mail that reaches Melio becomes a bill (and, through Melio's QuickBooks/Xero sync, a ledger entry), so
the mailer must distinguish "certainly not delivered" from "maybe delivered":

- `sent`: the server answered 2xx to the end of DATA.
- `temporary_failure`: every attempt failed *before* the server could have accepted the message (connect or
  TLS handshake errors, a 4xx at MAIL/RCPT/DATA or at the end of DATA, the connection dropped or timed out
  before the final "." was written). Retried on a fresh connection with exponential backoff first.
  Safe to send again later. Two kinds say "stop the batch": `quota_exceeded` (the relay answered that a
  sending rate or quota is used up: not retried, hammering it only lengthens the lock-out) and `deadline_hit`
  (the last attempt did not finish within `deadline_s`).
- `permanent_failure`: a 5xx reply (code and server text in the result). Not retried; sending the same
  message again will fail the same way.
- `unknown`: the whole message was handed to the server (the terminating CRLF.CRLF written) and then the
  connection broke or timed out before the reply. The server may well have accepted it. NEVER retried:
  the caller must hold the bill for a person (check the Melio inbox) instead of sending it again.

`_TrackingSMTP.data()` is CPython's `SMTP.data()` with one addition: `message_transmitted` becomes True
right after the message and its terminator were written, before the reply is read. That flag is what
separates the last two cases.

Every attempt (connect, TLS, AUTH, each command, DATA and its reply) runs under one overall deadline
(`deadline_s`, setting `smtp_deadline_s`; see smtp_deadline.py): a relay that trickles or stalls cannot keep
a message busy longer than that. A deadline hit is a temporary failure (or `unknown` after the final dot).

Configuration problems raise instead of returning an outcome, because no retry of any message can fix them:
`MailerAuthError` (credentials refused; the text never contains the password), `MailerTlsError` (certificate
verification failed, TLS 1.3 not available, STARTTLS not offered: there is never a fallback to plain text).
Their text ends with the settings to fix, also in `error.settings`. A relay that ends the TLS handshake without
a word is asked once more for a TLS 1.2 handshake (nothing is ever sent over it): if that succeeds, the relay
cannot speak TLS 1.3 and that is a `MailerTlsError`, not a network problem to retry for hours.
A message that is not a single-recipient bill e-mail raises ValueError before any network traffic.

One `SmtpMailer` holds one connection (opened by `with mailer:` or by the first send) and reuses it for a
whole batch; after a 421, a drop or an idle close by the server, the next attempt opens a new one.
Not thread-safe: use one mailer per thread.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

from well_pipeline.adapters.melio.bill_email import validate_address
from well_pipeline.adapters.melio.smtp_deadline import Deadline, DeadlineClock
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.core.delivery.quota import is_quota_reply

__all__ = [
    "MailerAuthError",
    "MailerError",
    "MailerStats",
    "MailerTlsError",
    "SendResult",
    "SmtpMailer",
]

logger = logging.getLogger("well.melio.mailer")

Outcome = Literal["sent", "temporary_failure", "permanent_failure", "unknown"]
Stage = Literal["CONNECT", "MAIL", "RCPT", "DATA", "END_OF_DATA"]

_MAX_BACKOFF_S = 300.0
_TLS_FIX = ("Fix the settings smtp_host and smtp_port (a submission service that offers TLS 1.3) or smtp_security "
            "('starttls' for port 587, 'tls' for port 465)")
_STARTTLS_FIX = ("Fix the setting smtp_security ('tls' if this port speaks TLS from the first byte, e.g. 465) or "
                 "smtp_port (587 offers STARTTLS)")
# Headers that name recipients; a bill e-mail has exactly one recipient, in To.
_FORBIDDEN_RECIPIENT_HEADERS = ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")


# The settings (README table) and secret behind each configuration problem, named in the error's text.
TLS_SETTINGS = ("smtp_host", "smtp_port", "smtp_security")
CERTIFICATE_SETTINGS = ("smtp_ca_file", "smtp_host")
STARTTLS_SETTINGS = ("smtp_security", "smtp_port")
AUTH_SETTINGS = ("smtp_username", "smtp_password")


class MailerError(Exception):
    """A configuration problem no retry can fix (raised, not returned as an outcome).

    `settings` names what to fix (Well's setting names; `smtp_password` is the secret of that name).
    """

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings


class MailerAuthError(MailerError):
    """The server refused the credentials, or offers no AUTH after TLS."""


class MailerTlsError(MailerError):
    """TLS could not be established as required (certificate, TLS 1.3, STARTTLS not offered)."""


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    `code` is the last SMTP reply code (None when there was no reply: connection errors, `unknown`); `reply`
    the server's text or a description of the connection problem; `attempts` how many times the message was
    tried (1 = no retry). `stage` is where the last attempt ended (CONNECT, MAIL, RCPT, DATA, END_OF_DATA);
    `message_id` the Message-ID header of the message. `quota_exceeded`: the relay said a sending rate or
    quota is used up (a `temporary_failure`, not retried). `deadline_hit`: the last attempt was cut by the
    overall deadline.
    """

    outcome: Outcome
    code: int | None
    reply: str
    attempts: int
    stage: Stage | None = None
    message_id: str | None = None
    quota_exceeded: bool = False
    deadline_hit: bool = False

    @property
    def retry_is_safe(self) -> bool:
        """True when the message certainly was not accepted (a later re-send cannot duplicate it)."""
        return self.outcome in ("temporary_failure", "permanent_failure")


@dataclass
class MailerStats:
    """Counters over the mailer's lifetime (`mailer.stats`)."""

    connections_opened: int = 0
    messages_sent: int = 0
    retries: int = 0
    temporary_failures: int = 0
    permanent_failures: int = 0
    unknown: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _TransmissionTracking:
    """Mixin: `data()` records when the whole message has been written, before reading the final reply;
    sockets are made by the mailer's `DeadlineClock` (every wait ends by the attempt's deadline)."""

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


class _TrackingSMTP(_TransmissionTracking, smtplib.SMTP):
    pass


class _TrackingSMTPSSL(_TransmissionTracking, smtplib.SMTP_SSL):
    pass


class _Retryable(Exception):
    """Internal: the attempt failed before the message could have been accepted (`quota`: do not retry now)."""

    def __init__(self, stage: Stage, code: int | None, reply: str, *, drop_connection: bool,
                 quota: bool = False) -> None:
        super().__init__(stage, code, reply)
        self.stage = stage
        self.code = code
        self.reply = reply
        self.drop_connection = drop_connection
        self.quota = quota


class _Final(Exception):
    """Internal: the attempt ended with an outcome that must not be retried."""

    def __init__(self, outcome: Outcome, stage: Stage, code: int | None, reply: str) -> None:
        super().__init__(outcome, stage, code, reply)
        self.outcome = outcome
        self.stage = stage
        self.code = code
        self.reply = reply


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _hit(deadline: Deadline | None) -> bool:
    return deadline is not None and deadline.hit


class SmtpMailer:
    """Send bill e-mails over one reused, authenticated TLS 1.3 SMTP connection (see the module docstring).

    `security="starttls"` connects in plain text and upgrades with STARTTLS (port 587 style); `"tls"` is
    implicit TLS from the first byte (port 465 style). The server certificate is verified against the system
    store, or `ca_file` when given; the host name is checked (use "127.0.0.1" for a loopback sandbox whose
    certificate carries that IP). `max_retries` extra attempts follow a first failed one (so at most
    `max_retries + 1` tries), waiting `backoff_s * 2**n` (capped at 300 s) via `sleep` in between.
    `timeout_s` bounds each socket operation, `deadline_s` (None: none) each whole attempt.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Literal["starttls", "tls"] = "starttls",
        username: str | None = None,
        password: Secret | None = None,
        timeout_s: float = 30,
        deadline_s: float | None = 120.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        ca_file: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("starttls", "tls"):
            raise ValueError(f"security must be 'starttls' or 'tls', got {security!r}")
        if password is not None and not isinstance(password, Secret):
            raise TypeError("password must be a Secret (never a plain str)")
        if (username is None) != (password is None):
            raise ValueError("username and password go together (both set, or both None for no AUTH)")
        if password is not None and not password.reveal().isascii():
            raise ValueError("the SMTP password must be ASCII (smtplib sends AUTH PLAIN/LOGIN as ASCII)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError("deadline_s must be > 0 (or None for no overall deadline)")
        if max_retries < 0 or backoff_s < 0:
            raise ValueError("max_retries and backoff_s must be >= 0")
        self.host = host
        self.port = int(port)
        self.security = security
        self.username = username
        self._password = password
        self.timeout_s = float(timeout_s)
        self.deadline_s = None if deadline_s is None else float(deadline_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.ca_file = ca_file
        self._sleep = sleep
        # Passed to EHLO. None = smtplib's default (the machine's FQDN).
        self.local_hostname = local_hostname
        self.stats = MailerStats()
        self._conn: smtplib.SMTP | None = None
        self._conn_messages = 0  # transactions started on the current connection
        self._clock = DeadlineClock(self.timeout_s)
        self._tls_context = self._make_tls_context()

    def __repr__(self) -> str:
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self._password else None})"
        )

    # -- connection -----------------------------------------------------------------------------------

    def _make_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version of the open connection ("TLSv1.3"), or None when not connected."""
        sock = self._conn.sock if self._conn is not None else None
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    @property
    def connected(self) -> bool:
        """True while a connection is open (it may still have been closed by the server since)."""
        return self._conn is not None

    def __enter__(self) -> SmtpMailer:
        """Open the connection now, so wrong credentials or TLS problems surface before the first message.

        A transient failure (server down, 4xx greeting) is logged and left to the first `send`, which retries.
        """
        try:
            with self._clock.scope(self.deadline_s):
                self._ensure_connection()
        except _Retryable as exc:
            logger.warning("melio mailer: could not connect to %s:%s yet (%s)", self.host, self.port, exc.reply)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """QUIT and close the connection, if any (errors while quitting are ignored)."""
        conn, self._conn = self._conn, None
        self._conn_messages = 0
        if conn is None:
            return
        try:
            with self._clock.scope(self.deadline_s):
                conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            conn.close()

    def _drop(self) -> None:
        """Forget the current connection without QUIT (it is broken or the server closed it)."""
        conn, self._conn = self._conn, None
        self._conn_messages = 0
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _ensure_connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        error: tuple[type[MailerError], str, tuple[str, ...]] | None = None
        hung_up: str | None = None
        conn: smtplib.SMTP | None = None
        where = f"{self.host}:{self.port}"
        try:
            conn = self._open()
        except MailerError:
            raise
        except ssl.SSLCertVerificationError as exc:
            error = (MailerTlsError, f"TLS certificate of {where} not trusted: {exc.verify_message}. Fix the "
                     "setting smtp_ca_file (the relay's CA certificate) or smtp_host (the name on its certificate)",
                     CERTIFICATE_SETTINGS)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            hung_up = _describe(exc)  # the peer ended the handshake without a word: see below
        except ssl.SSLError as exc:
            error = (MailerTlsError, f"TLS 1.3 handshake with {where} failed: {exc.reason or exc}. {_TLS_FIX}",
                     TLS_SETTINGS)
        except smtplib.SMTPAuthenticationError as exc:
            reply = self._scrub(_text(exc.smtp_error))
            if 400 <= exc.smtp_code < 500:  # e.g. 454 temporary authentication failure
                raise _Retryable("CONNECT", exc.smtp_code, reply, drop_connection=True,
                                 quota=is_quota_reply(exc.smtp_code, reply)) from None
            error = (
                MailerAuthError,
                f"SMTP authentication as {self.username!r} on {where} failed: {exc.smtp_code} {reply}. Fix the "
                "setting smtp_username or the secret smtp_password (`well secrets set smtp_password`)",
                AUTH_SETTINGS,
            )
        except smtplib.SMTPResponseException as exc:
            # A 4xx/5xx greeting, EHLO or STARTTLS reply (e.g. 454 TLS not available right now).
            reply = self._scrub(_text(exc.smtp_error))
            raise _Retryable("CONNECT", exc.smtp_code, reply, drop_connection=True,
                             quota=is_quota_reply(exc.smtp_code, reply)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _Retryable("CONNECT", None, self._scrub(_describe(exc)), drop_connection=True) from None
        if hung_up is not None:
            # A relay that cannot speak TLS 1.3 often just closes the connection (no alert), like a network
            # problem would. One TLS 1.2 handshake tells the two apart: if it succeeds, retrying cannot help.
            if not self._speaks_only_tls12():
                raise _Retryable("CONNECT", None, hung_up, drop_connection=True)
            error = (MailerTlsError, f"{where} offers TLS 1.2 at most; Well requires TLS 1.3 and never falls back "
                     f"({hung_up}). {_TLS_FIX}", TLS_SETTINGS)
        if error is not None:
            # Raised outside the except block: no chained traceback (whose frames hold the revealed password).
            raise error[0](error[1], settings=error[2])
        assert conn is not None
        self._conn = conn
        self._conn_messages = 0
        self.stats.connections_opened += 1
        return conn

    def _open(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        # Made without a host, so the deadline clock is in place before `connect` opens the socket.
        if self.security == "tls":
            conn = _TrackingSMTPSSL(local_hostname=self.local_hostname, timeout=self.timeout_s,
                                    context=self._tls_context)
        else:
            conn = _TrackingSMTP(local_hostname=self.local_hostname, timeout=self.timeout_s)
        conn.deadline_clock = self._clock  # type: ignore[attr-defined]
        try:
            code, greeting = conn.connect(self.host, self.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            # Commands and replies are small and strictly alternating; without TCP_NODELAY, Nagle's algorithm
            # holds the tail of each message until the server's delayed ACK (~40 ms per e-mail on Linux).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.security == "starttls":
                conn.ehlo()
                if not conn.has_extn("starttls"):
                    raise MailerTlsError(
                        f"{self.host}:{self.port} does not offer STARTTLS; refusing to send in plain text. "
                        f"{_STARTTLS_FIX}", settings=STARTTLS_SETTINGS,
                    )
                code, reply = conn.docmd("STARTTLS")
                if 400 <= code < 500:  # 454 TLS not available due to a temporary reason
                    raise smtplib.SMTPResponseException(code, reply)
                if code != 220:
                    raise MailerTlsError(
                        f"{self.host}:{self.port} refused STARTTLS ({code} {_text(reply)}); "
                        f"refusing to send in plain text. {_STARTTLS_FIX}", settings=STARTTLS_SETTINGS,
                    )
                conn.sock = self._clock.wrap(self._tls_context, conn.sock, server_hostname=self.host)
                conn.file = None
                # RFC 3207: forget everything learnt before TLS.
                conn.helo_resp = None
                conn.ehlo_resp = None
                conn.esmtp_features = {}
                conn.does_esmtp = False
            conn.ehlo()
            if self.username is not None and self._password is not None:
                if not conn.has_extn("auth"):
                    raise MailerAuthError(f"{self.host}:{self.port} offers no AUTH after TLS; cannot log in. Fix "
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

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH with ONE mechanism (PLAIN, else LOGIN). smtplib's `login()` would try every advertised
        mechanism in turn, so a wrong password would count as several failures towards a lockout."""
        assert self.username is not None and self._password is not None
        offered = conn.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise MailerAuthError(
                f"{self.host}:{self.port} offers no AUTH PLAIN or LOGIN after TLS (offers: {' '.join(offered)}). "
                "Fix the setting smtp_host (a relay with password login) or smtp_username (empty: no AUTH)",
                settings=("smtp_host", "smtp_username"),
            )
        conn.user, conn.password = self.username, self._password.reveal()
        try:
            authobject = conn.auth_plain if mechanism == "PLAIN" else conn.auth_login
            code, reply = conn.auth(mechanism, authobject, initial_response_ok=True)
        finally:
            conn.password = ""  # smtplib keeps it on the object for the auth callbacks only
        if code not in (235, 503):  # 503: already authenticated
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _scrub(self, text: str) -> str:
        """Belt and braces: a server that echoes the password in an error text must not leak it to logs."""
        if self._password is not None and self._password.reveal() and self._password.reveal() in text:
            text = text.replace(self._password.reveal(), "***")
        return text

    def _speaks_only_tls12(self) -> bool:
        """True when the server completes a TLS 1.2 handshake (after it ended a TLS 1.3 one without a word).

        Only the handshake (after EHLO and STARTTLS in plain text for `starttls`): the connection is closed right
        after it, so no credentials and no mail ever travel over TLS 1.2. A certificate the client refuses also
        proves the server got that far in TLS 1.2.
        """
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        timeout = min(self.timeout_s, self.deadline_s or self.timeout_s)
        probe: smtplib.SMTP | None = None
        sock: socket.socket | None = None
        try:
            if self.security == "starttls":
                probe = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=timeout)
                probe.ehlo()
                if not probe.has_extn("starttls") or probe.docmd("STARTTLS")[0] != 220:
                    return False
                sock = probe.sock
            else:
                sock = socket.create_connection((self.host, self.port), timeout)
            with context.wrap_socket(sock, server_hostname=self.host):
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

    # -- sending --------------------------------------------------------------------------------------

    @staticmethod
    def _envelope(message: EmailMessage) -> tuple[str, str]:
        """MAIL FROM and RCPT TO, from the From and To headers only; exactly one address each."""
        for name in _FORBIDDEN_RECIPIENT_HEADERS:
            if message.get_all(name):
                raise ValueError(f"a bill e-mail must not carry a {name} header (exactly one recipient, in To)")
        addresses = {}
        for name in ("From", "To"):
            values = message.get_all(name) or []
            parsed = getaddresses([str(v) for v in values])
            if len(values) != 1 or len(parsed) != 1 or not parsed[0][1]:
                raise ValueError(f"a bill e-mail needs exactly one {name} address, got {values!r}")
            addresses[name] = validate_address(parsed[0][1])
        return addresses["From"], addresses["To"]

    def send(self, message: EmailMessage) -> SendResult:
        """Deliver one message; return its outcome (see the module docstring). Raises ValueError for a
        message that is not a single-recipient 7-bit e-mail, MailerAuthError/MailerTlsError for configuration
        problems."""
        mail_from, rcpt_to = self._envelope(message)
        # The message's own policy (build_bill_email's keeps its pre-folded Subject), with CRLF line ends.
        raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        if not raw.isascii():
            raise ValueError("message must be 7-bit ASCII once serialised (build it with build_bill_email)")
        message_id = str(message.get("Message-ID", "")) or None
        attempts = 0
        while True:
            attempts += 1
            with self._clock.scope(self.deadline_s) as deadline:
                try:
                    code, reply = self._attempt(mail_from, rcpt_to, raw)
                except _Retryable as retryable:
                    failure = retryable
                    if failure.drop_connection or _hit(deadline):
                        self._drop()
                    else:
                        self._reset()
                except _Final as final:
                    if final.outcome == "unknown":
                        self._drop()
                        self.stats.unknown += 1
                    else:
                        self._reset()
                        self.stats.permanent_failures += 1
                    return self._finish(SendResult(final.outcome, final.code, self._noted(final.reply, deadline),
                                                   attempts, final.stage, message_id, deadline_hit=_hit(deadline)))
                else:
                    self.stats.messages_sent += 1
                    return self._finish(SendResult("sent", code, reply, attempts, "END_OF_DATA", message_id))
            reply = self._noted(failure.reply, deadline)
            if failure.quota or attempts > self.max_retries:
                self.stats.temporary_failures += 1
                return self._finish(SendResult("temporary_failure", failure.code, reply, attempts, failure.stage,
                                               message_id, quota_exceeded=failure.quota, deadline_hit=_hit(deadline)))
            delay = min(self.backoff_s * (2 ** (attempts - 1)), _MAX_BACKOFF_S)
            self.stats.retries += 1
            logger.warning(
                "melio mail message_id=%s attempt=%d failed at %s code=%s (%s); retrying in %.1fs",
                message_id, attempts, failure.stage, failure.code, reply, delay,
            )
            self._sleep(delay)

    def _noted(self, reply: str, deadline: Deadline | None) -> str:
        """The failure's text, saying so when the overall deadline is what cut the attempt."""
        if not _hit(deadline):
            return reply
        return f"no complete answer within the {self.deadline_s:g} s deadline (setting smtp_deadline_s): {reply}"

    def _finish(self, result: SendResult) -> SendResult:
        logger.info(
            "melio mail message_id=%s outcome=%s code=%s attempts=%d stage=%s%s",
            result.message_id, result.outcome, result.code, result.attempts, result.stage,
            " (quota exceeded)" if result.quota_exceeded else " (deadline hit)" if result.deadline_hit else "",
        )
        return result

    def _reset(self) -> None:
        """RSET after a failed transaction on a connection that is still up; drop it if RSET fails."""
        if self._conn is None:
            return
        try:
            code, _ = self._conn.rset()
        except (smtplib.SMTPException, OSError):
            code = -1
        if code != 250:
            self._drop()

    def _attempt(self, mail_from: str, rcpt_to: str, raw: bytes) -> tuple[int, str]:
        conn = self._ensure_connection()
        reused = self._conn_messages > 0
        self._conn_messages += 1
        try:
            code, reply = self._mail(conn, mail_from, len(raw))
        except smtplib.SMTPServerDisconnected as exc:
            if not reused or isinstance(exc.__context__, TimeoutError):
                raise _Retryable("MAIL", None, _describe(exc), drop_connection=True) from None
            # The server closed the connection between messages (its idle timeout): reconnect once,
            # transparently, without counting a retry. A timeout is not that: it counts as a failed attempt.
            logger.debug("melio mailer: connection to %s:%s was closed by the server; reconnecting",
                         self.host, self.port)
            self._drop()
            conn = self._ensure_connection()
            self._conn_messages += 1
            code, reply = self._guard("MAIL", lambda: self._mail(conn, mail_from, len(raw)))
        except (smtplib.SMTPException, OSError) as exc:
            raise _Retryable("MAIL", None, _describe(exc), drop_connection=True) from None
        self._check("MAIL", code, reply)
        code, reply = self._guard("RCPT", lambda: conn.rcpt(rcpt_to))
        self._check("RCPT", code, reply)
        tracking: _TransmissionTracking = conn  # type: ignore[assignment]
        tracking.message_transmitted = False
        try:
            code, reply_bytes = conn.data(raw)
        except smtplib.SMTPDataError as exc:
            # Non-354 answer to DATA: nothing of the message was sent.
            self._check("DATA", exc.smtp_code, _text(exc.smtp_error))
            raise _Retryable("DATA", exc.smtp_code, _text(exc.smtp_error), drop_connection=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            if tracking.message_transmitted:
                raise _Final(
                    "unknown", "END_OF_DATA", None,
                    f"connection lost after the message was transmitted, before the server's reply "
                    f"({_describe(exc)}); it may have been delivered",
                ) from None
            raise _Retryable("DATA", None, _describe(exc), drop_connection=True) from None
        reply = _text(reply_bytes)
        if 200 <= code < 300:
            return code, reply
        if 400 <= code < 600:
            self._check("END_OF_DATA", code, reply)
        # No valid reply code after the full message: as uncertain as a dropped connection.
        raise _Final("unknown", "END_OF_DATA", code if code > 0 else None,
                     f"unexpected reply after the message was transmitted: {code} {reply}")

    def _mail(self, conn: smtplib.SMTP, mail_from: str, size: int) -> tuple[int, str]:
        options = [f"SIZE={size}"] if conn.has_extn("size") else []
        code, reply = conn.mail(mail_from, options)
        return code, _text(reply)

    @staticmethod
    def _guard(stage: Stage, call: Callable[[], tuple[int, bytes | str]]) -> tuple[int, str]:
        try:
            code, reply = call()
        except (smtplib.SMTPException, OSError) as exc:
            raise _Retryable(stage, None, _describe(exc), drop_connection=True) from None
        return code, _text(reply)

    def _check(self, stage: Stage, code: int, reply: str) -> None:
        """Return for 2xx; raise _Retryable for 4xx (and garbage), _Final permanent_failure for 5xx.

        A quota answer (core/delivery/quota.py), 4xx or 5xx, is a _Retryable not to be retried now."""
        if 200 <= code < 300:
            return
        if is_quota_reply(code, reply):
            raise _Retryable(stage, code, reply, drop_connection=code == 421 or code >= 500, quota=True)
        if 500 <= code < 600:
            raise _Final("permanent_failure", stage, code, reply)
        # 421 means the server is closing the channel; anything unexpected also gets a fresh connection.
        drop = code == 421 or not 400 <= code < 500
        raise _Retryable(stage, code if code > 0 else None, reply, drop_connection=drop)
