"""One overall deadline per SMTP attempt: connect, TLS handshake, AUTH, every command and the DATA transfer.

Why: smtplib's `timeout` bounds each socket operation, not the exchange. A relay that answers one byte at a
time, or stalls between commands just under the timeout, kept one message busy for minutes, and a batch of
1,300 bills for hours while the run held its DuckDB pool slot (issue 8).

How: the mailer's sockets are `DeadlineSocket` / `DeadlineSSLSocket`. Before every blocking call (connect,
handshake, each read, each 64 KB piece of a write) they clamp their timeout to the time left before the
deadline of the attempt in progress (`DeadlineClock.scope`) and refuse to wait at all once it has passed, so a
trickle cannot outlive it. smtplib sees an ordinary timeout and the mailer drops the connection (never reused
half-read). `Deadline` is the Qonto client's (adapters/qonto/deadline.py): the same rule on the HTTP side.
Not thread-safe, like the mailer that owns the clock.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from well_pipeline.adapters.qonto.deadline import Deadline

__all__ = ["Deadline", "DeadlineClock", "DeadlineSSLSocket", "DeadlineSocket"]

_WRITE_PIECE = 65536  # writes are split so each piece waits at most the time left
_T = TypeVar("_T")


class DeadlineClock:
    """The deadline of the SMTP attempt in progress (if any) and the per-operation timeout under it."""

    def __init__(self, io_timeout_s: float) -> None:
        self.io_timeout_s = io_timeout_s
        self.current: Deadline | None = None

    @contextmanager
    def scope(self, seconds: float | None) -> Iterator[Deadline | None]:
        """Run one attempt under a deadline of `seconds` (None: only the per-operation timeout).

        Nested scopes keep the earlier deadline (a reconnect inside an attempt does not get a fresh one).
        """
        outer = self.current
        if seconds is None:
            yield outer
            return
        mine = Deadline(seconds)
        self.current = outer if outer is not None and outer.expires_at <= mine.expires_at else mine
        try:
            yield self.current
        finally:
            self.current = outer

    def wait_timeout(self) -> tuple[float, Deadline | None]:
        """The timeout for one socket wait, and the deadline when it is the one limiting that wait.

        Raises TimeoutError once the deadline has passed (never settimeout(0): that means non-blocking).
        """
        deadline = self.current
        if deadline is None:
            return self.io_timeout_s, None
        left = deadline.remaining()
        if left <= 0:
            deadline.hit = True
            raise TimeoutError(f"deadline of {deadline.seconds:g} s passed")
        if self.io_timeout_s < left:
            return self.io_timeout_s, None
        return left, deadline

    def connect(self, host: str, port: int, source_address: tuple[str, int] | None = None) -> DeadlineSocket:
        """A TCP connection made within the deadline, as a `DeadlineSocket` bound to this clock."""
        raw = _bounded(self, lambda timeout: socket.create_connection((host, port), timeout, source_address))
        sock = DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        sock.deadline_clock = self
        sock.settimeout(self.io_timeout_s)
        return sock

    def wrap(self, context: ssl.SSLContext, sock: socket.socket, server_hostname: str) -> DeadlineSSLSocket:
        """`sock` wrapped in TLS by `context`, the handshake made within the deadline."""
        context.sslsocket_class = DeadlineSSLSocket
        tls = context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        assert isinstance(tls, DeadlineSSLSocket)
        tls.deadline_clock = self
        tls.do_handshake()
        return tls


def _bounded(clock: DeadlineClock | None, call: Callable[[float | None], _T],
             settimeout: Callable[[float], None] | None = None) -> _T:
    """Run one blocking socket call with its timeout clamped; a timeout the deadline caused marks it hit."""
    if clock is None:
        return call(None)
    timeout, limiting = clock.wait_timeout()
    if settimeout is not None:
        settimeout(timeout)
    try:
        return call(timeout)
    except TimeoutError:
        if limiting is not None:
            limiting.hit = True
        raise


class _DeadlineMixin:
    """Clamps every blocking call of a socket to its clock's deadline (no clock: an ordinary socket)."""

    deadline_clock: DeadlineClock | None = None

    def _limited(self, call: Callable[[], _T]) -> _T:
        return _bounded(self.deadline_clock, lambda _timeout: call(), self.settimeout)  # type: ignore[attr-defined]

    # Arguments are passed on as given: socket and SSLSocket differ in their defaults (0 vs None).
    def recv_into(self, buffer: Any, *args: Any) -> int:
        inner = super().recv_into  # type: ignore[misc]
        return self._limited(lambda: inner(buffer, *args))

    def recv(self, bufsize: int, *args: Any) -> bytes:
        inner = super().recv  # type: ignore[misc]
        return self._limited(lambda: inner(bufsize, *args))

    def sendall(self, data: Any, flags: int = 0) -> None:
        inner = super().sendall  # type: ignore[misc]
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _WRITE_PIECE):
            piece = view[start:start + _WRITE_PIECE]
            self._limited(lambda piece=piece: inner(piece, flags))


class DeadlineSocket(_DeadlineMixin, socket.socket):
    """A TCP socket whose every wait ends by the current deadline of its clock."""


class DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    """A TLS socket whose handshake and every wait end by the current deadline of its clock."""

    def do_handshake(self, block: bool = False) -> None:
        inner = super().do_handshake
        self._limited(lambda: inner(block))
