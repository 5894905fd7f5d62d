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

`TrackingSMTP.data()` (mailer_connection.py) is CPython's `SMTP.data()` with one addition: `message_transmitted`
becomes True right after the message and its terminator were written, before the reply is read. That flag is
what separates the last two cases.

Every attempt (connect, TLS, AUTH, each command, DATA and its reply) runs under one overall deadline
(`deadline_s`, setting `smtp_deadline_s`; see smtp_deadline.py): a relay that trickles or stalls cannot keep
a message busy longer than that. A deadline hit is a temporary failure (or `unknown` after the final dot).

Configuration problems raise instead of returning an outcome, because no retry of any message can fix them:
`MailerAuthError` (credentials refused; the text never contains the password), `MailerTlsError` (certificate
verification failed, TLS 1.3 not available, STARTTLS not offered: there is never a fallback to plain text).
Their text ends with the settings to fix, also in `error.settings` (mailer_errors.py; how a connection is opened
and its failures sorted: mailer_connection.py).
A message that is not a single-recipient bill e-mail raises ValueError before any network traffic.

One `SmtpMailer` holds one connection (opened by `with mailer:` or by the first send) and reuses it for a
whole batch; after a 421, a drop or an idle close by the server, the next attempt opens a new one.
Not thread-safe: use one mailer per thread.

The mailer is split by job: this module sends (one connection reused, retries, the outcome of each message);
`mailer_connection.py` opens connections (TLS 1.3, STARTTLS, AUTH); `mailer_results.py` holds `SendResult` and
`MailerStats`; `mailer_errors.py` the configuration errors. Their public names are importable from here.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

from well_pipeline.adapters.melio.bill_email import validate_address
from well_pipeline.adapters.melio.mailer_connection import SmtpConfig, SmtpConnector, TrackingSMTP
from well_pipeline.adapters.melio.mailer_errors import (
    AUTH_SETTINGS,
    CERTIFICATE_SETTINGS,
    STARTTLS_SETTINGS,
    TLS_SETTINGS,
    MailerAuthError,
    MailerError,
    MailerTlsError,
)
from well_pipeline.adapters.melio.mailer_results import (
    FinalFailure,
    MailerStats,
    Outcome,
    RetryableFailure,
    SendResult,
    Stage,
    describe,
    reply_text,
)
from well_pipeline.adapters.melio.smtp_deadline import Deadline, DeadlineClock
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.core.delivery.quota import is_quota_reply

__all__ = [
    "AUTH_SETTINGS",
    "CERTIFICATE_SETTINGS",
    "STARTTLS_SETTINGS",
    "TLS_SETTINGS",
    "MailerAuthError",
    "MailerError",
    "MailerStats",
    "MailerTlsError",
    "Outcome",
    "SendResult",
    "SmtpMailer",
    "Stage",
]

logger = logging.getLogger("well.melio.mailer")

_MAX_BACKOFF_S = 300.0
# Headers that name recipients; a bill e-mail has exactly one recipient, in To.
_FORBIDDEN_RECIPIENT_HEADERS = ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")


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
        config = SmtpConfig(host, int(port), security=security, username=username, password=password,
                            timeout_s=float(timeout_s), deadline_s=None if deadline_s is None else float(deadline_s),
                            ca_file=ca_file, local_hostname=local_hostname)
        if max_retries < 0 or backoff_s < 0:
            raise ValueError("max_retries and backoff_s must be >= 0")
        self.host, self.port, self.security, self.username = config.host, config.port, config.security, username
        self.timeout_s, self.deadline_s = config.timeout_s, config.deadline_s
        self.ca_file, self.local_hostname = ca_file, local_hostname
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self._sleep = sleep
        self.stats = MailerStats()
        self._conn: smtplib.SMTP | None = None
        self._conn_messages = 0  # transactions started on the current connection
        self._clock = DeadlineClock(config.timeout_s)
        self._connector = SmtpConnector(config, self._clock)

    def __repr__(self) -> str:
        return f"SmtpMailer{repr(self._connector.config).removeprefix('SmtpConfig')}"

    # -- connection -----------------------------------------------------------------------------------

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
        except RetryableFailure as exc:
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
        """The open connection, or a new one (raises `RetryableFailure` or a `MailerError`, see the connector)."""
        if self._conn is not None:
            return self._conn
        self._conn = self._connector.open()
        self._conn_messages = 0
        self.stats.connections_opened += 1
        return self._conn

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
                except RetryableFailure as retryable:
                    failure = retryable
                    if failure.drop_connection or _hit(deadline):
                        self._drop()
                    else:
                        self._reset()
                except FinalFailure as final:
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
                raise RetryableFailure("MAIL", None, describe(exc), drop_connection=True) from None
            # The server closed the connection between messages (its idle timeout): reconnect once,
            # transparently, without counting a retry. A timeout is not that: it counts as a failed attempt.
            logger.debug("melio mailer: connection to %s:%s was closed by the server; reconnecting",
                         self.host, self.port)
            self._drop()
            conn = self._ensure_connection()
            self._conn_messages += 1
            code, reply = self._guard("MAIL", lambda: self._mail(conn, mail_from, len(raw)))
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableFailure("MAIL", None, describe(exc), drop_connection=True) from None
        self._check("MAIL", code, reply)
        code, reply = self._guard("RCPT", lambda: conn.rcpt(rcpt_to))
        self._check("RCPT", code, reply)
        tracking: TrackingSMTP = conn  # type: ignore[assignment]
        tracking.message_transmitted = False
        try:
            code, reply_bytes = conn.data(raw)
        except smtplib.SMTPDataError as exc:
            # Non-354 answer to DATA: nothing of the message was sent.
            self._check("DATA", exc.smtp_code, reply_text(exc.smtp_error))
            raise RetryableFailure("DATA", exc.smtp_code, reply_text(exc.smtp_error), drop_connection=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            if tracking.message_transmitted:
                raise FinalFailure(
                    "unknown", "END_OF_DATA", None,
                    f"connection lost after the message was transmitted, before the server's reply "
                    f"({describe(exc)}); it may have been delivered",
                ) from None
            raise RetryableFailure("DATA", None, describe(exc), drop_connection=True) from None
        reply = reply_text(reply_bytes)
        if 200 <= code < 300:
            return code, reply
        if 400 <= code < 600:
            self._check("END_OF_DATA", code, reply)
        # No valid reply code after the full message: as uncertain as a dropped connection.
        raise FinalFailure("unknown", "END_OF_DATA", code if code > 0 else None,
                     f"unexpected reply after the message was transmitted: {code} {reply}")

    def _mail(self, conn: smtplib.SMTP, mail_from: str, size: int) -> tuple[int, str]:
        options = [f"SIZE={size}"] if conn.has_extn("size") else []
        code, reply = conn.mail(mail_from, options)
        return code, reply_text(reply)

    @staticmethod
    def _guard(stage: Stage, call: Callable[[], tuple[int, bytes | str]]) -> tuple[int, str]:
        try:
            code, reply = call()
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableFailure(stage, None, describe(exc), drop_connection=True) from None
        return code, reply_text(reply)

    def _check(self, stage: Stage, code: int, reply: str) -> None:
        """Return for 2xx; raise RetryableFailure for 4xx (and garbage), FinalFailure permanent_failure for 5xx.

        A quota answer (core/delivery/quota.py), 4xx or 5xx, is a RetryableFailure not to be retried now."""
        if 200 <= code < 300:
            return
        if is_quota_reply(code, reply):
            raise RetryableFailure(stage, code, reply, drop_connection=code == 421 or code >= 500, quota=True)
        if 500 <= code < 600:
            raise FinalFailure("permanent_failure", stage, code, reply)
        # 421 means the server is closing the channel; anything unexpected also gets a fresh connection.
        drop = code == 421 or not 400 <= code < 500
        raise RetryableFailure(stage, code if code > 0 else None, reply, drop_connection=drop)
