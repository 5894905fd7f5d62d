"""Injected SMTP failures, so the mailer can be tested against the ways a real relay misbehaves.

Kinds (docs/CONTRACTS.md, "Melio inbox sandbox"):

- reply: answer `code` (400-599) with a text at `stage` instead of going on:
  MAIL / RCPT (instead of 250), DATA (before 354: no data is read), END_OF_DATA (after the whole message
  was received: the message is NOT kept, it counts in stats as refused). Code 421 also closes the
  connection after the reply, as RFC 5321 4.2.2 says a server shutting down does.
- drop_before_data: close the connection when DATA arrives, before 354 (nothing was transmitted).
- drop_after_data: keep the message as delivered, then close the connection without answering the final
  dot: the client cannot know whether it was delivered (the case SendResult "unknown" exists for).
- delay: wait `delay_s` seconds (default 30) at `stage`, then go on normally. At END_OF_DATA the message is
  kept first and only the 250 is late, so a client that times out or is killed meanwhile faces the same
  "delivered or not?" question as with drop_after_data (a slow relay's real failure mode).

A fault fires for the next `times` matching commands (None = until cleared), but only once
`after_messages` more messages have been accepted since it was added, so "the 3rd message of a batch
fails" is `after_messages=2`. The first armed matching fault wins; a command consumes at most one fault.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("reply", "drop_before_data", "drop_after_data", "delay")
STAGES = ("MAIL", "RCPT", "DATA", "END_OF_DATA")
_IMPLIED_STAGE = {"drop_before_data": "DATA", "drop_after_data": "END_OF_DATA"}
_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.0 Mailbox temporarily unavailable",
    451: "4.3.0 Requested action aborted: local error in processing",
    452: "4.3.1 Insufficient system storage",
    550: "5.7.1 Requested action not taken: message refused",
    552: "5.3.4 Message size exceeds fixed limit",
    554: "5.6.0 Transaction failed",
}


class FaultSpecError(ValueError):
    """A fault description that cannot be honoured."""


@dataclass
class Fault:
    """One armed fault, how many more times it fires and from which accepted-message count."""

    id: int
    kind: str
    stage: str
    code: int | None
    text: str | None
    times: int | None
    after_messages: int
    armed_at_accepted: int  # messages_accepted when the fault was added
    delay_s: float | None = None
    fired: int = 0

    @property
    def reply_line(self) -> str:
        """The full SMTP reply line for a `reply` fault."""
        assert self.code is not None
        text = self.text or _DEFAULT_TEXT.get(self.code, f"{self.code // 100}.0.0 Sandbox fault")
        return f"{self.code} {text}"

    @property
    def closes_connection(self) -> bool:
        """421 replies and both drop kinds end the connection."""
        return self.kind.startswith("drop_") or (self.kind == "reply" and self.code == 421)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description."""
        return asdict(self)


def build_fault(
    fault_id: int,
    kind: str,
    *,
    stage: str | None,
    code: int | None,
    text: str | None,
    times: int | None,
    after_messages: int,
    accepted_now: int,
    delay_s: float | None = None,
) -> Fault:
    """Validate one fault description."""
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {FAULT_KINDS}")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise FaultSpecError("times must be a positive integer or None (forever)")
    if not isinstance(after_messages, int) or isinstance(after_messages, bool) or after_messages < 0:
        raise FaultSpecError("after_messages must be an integer >= 0")
    if kind != "delay" and delay_s is not None:
        raise FaultSpecError("delay_s only applies to kind 'delay'")
    if kind == "reply":
        if stage is None or stage.upper() not in STAGES:
            raise FaultSpecError(f"a reply fault needs stage in {STAGES}")
        if not isinstance(code, int) or isinstance(code, bool) or not 400 <= code <= 599:
            raise FaultSpecError("a reply fault needs an integer code between 400 and 599")
        stage = stage.upper()
    elif kind == "delay":
        if stage is None or stage.upper() not in STAGES:
            raise FaultSpecError(f"a delay fault needs stage in {STAGES}")
        if code is not None or text is not None:
            raise FaultSpecError("a delay fault answers normally: code/text do not apply")
        delay_s = 30.0 if delay_s is None else delay_s
        if not isinstance(delay_s, int | float) or isinstance(delay_s, bool) or delay_s < 0:
            raise FaultSpecError("delay_s must be a non-negative number of seconds")
        delay_s = float(delay_s)
        stage = stage.upper()
    else:
        implied = _IMPLIED_STAGE[kind]
        if stage is not None and stage.upper() != implied:
            raise FaultSpecError(f"{kind} always happens at stage {implied}")
        if code is not None or text is not None:
            raise FaultSpecError(f"{kind} sends no reply: code/text do not apply")
        stage = implied
    if text is not None and ("\r" in text or "\n" in text):
        raise FaultSpecError("text must be a single line")
    return Fault(
        id=fault_id,
        kind=kind,
        stage=stage,
        code=code,
        text=text,
        times=times,
        after_messages=after_messages,
        armed_at_accepted=accepted_now,
        delay_s=delay_s,
    )


class FaultRegistry:
    """Thread-safe list of armed faults (the server's loop thread takes, the test thread adds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        *,
        stage: str | None = None,
        code: int | None = None,
        text: str | None = None,
        times: int | None = 1,
        after_messages: int = 0,
        accepted_now: int = 0,
        delay_s: float | None = None,
    ) -> Fault:
        """Arm a fault; raises FaultSpecError."""
        with self._lock:
            fault = build_fault(
                next(self._ids),
                kind,
                stage=stage,
                code=code,
                text=text,
                times=times,
                after_messages=after_messages,
                accepted_now=accepted_now,
                delay_s=delay_s,
            )
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        """Descriptions of the faults still armed."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def take(self, stage: str, accepted_now: int) -> Fault | None:
        """The fault to apply at `stage` now (consuming one use), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.stage != stage:
                    continue
                if accepted_now - fault.armed_at_accepted < fault.after_messages:
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None
