"""What sending one message comes to: the `SendResult` callers act on, the mailer's counters, and the two signals
an attempt ends with inside the mailer (retry it, or stop with this outcome)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["FinalFailure", "MailerStats", "Outcome", "RetryableFailure", "SendResult", "Stage", "describe",
           "reply_text"]

Outcome = Literal["sent", "temporary_failure", "permanent_failure", "unknown"]
Stage = Literal["CONNECT", "MAIL", "RCPT", "DATA", "END_OF_DATA"]


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


class RetryableFailure(Exception):
    """The attempt failed before the message could have been accepted (`quota`: do not retry now).

    `drop_connection`: the connection cannot be reused (a fresh one for the next attempt).
    """

    def __init__(self, stage: Stage, code: int | None, reply: str, *, drop_connection: bool,
                 quota: bool = False) -> None:
        super().__init__(stage, code, reply)
        self.stage = stage
        self.code = code
        self.reply = reply
        self.drop_connection = drop_connection
        self.quota = quota


class FinalFailure(Exception):
    """The attempt ended with an outcome that must not be retried (`permanent_failure` or `unknown`)."""

    def __init__(self, outcome: Outcome, stage: Stage, code: int | None, reply: str) -> None:
        super().__init__(outcome, stage, code, reply)
        self.outcome = outcome
        self.stage = stage
        self.code = code
        self.reply = reply


def reply_text(reply: bytes | str) -> str:
    """An SMTP reply as text (servers may send any bytes)."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def describe(exc: BaseException) -> str:
    """A connection problem as one line: its type and text."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
