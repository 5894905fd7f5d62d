"""One overall deadline per Qonto network call: connect, TLS handshake, request, headers and body.

Why: `httpx.Timeout(30)` bounds each socket operation, not the request. A server that trickles one byte per
second never makes a single read wait 30 s, so a list page or a download ran for minutes with no error while
the run held the `duckdb` slot (issue 8).

Why at the socket: every blocking socket call httpcore makes (connect, TLS handshake, each read and write)
goes through its network backend. `DeadlineBackend` clamps the timeout of each of those calls to the time left
before the deadline of the call in progress (a context variable set by `deadline_scope`) and refuses to wait
at all once it has passed. So:
- the bound holds whichever phase is slow (a trickled status line and headers too, not only the body);
- nothing keeps running after the caller gave up, unlike a request run in a thread and abandoned on a timer,
  which leaves the thread reading and its pooled connection busy;
- httpcore sees an ordinary timeout and closes the connection, so a half-read one is never reused.
Running each request under an anyio cancel scope would bound it too, but needs the async client and a rewrite
of the client's thread pools.

Deadlines nest: a call made inside another (an OAuth refresh in an API request's auth flow) gets the earlier
of its own deadline and the enclosing one. Threads do not inherit a deadline: each worker sets its own.

`enforce_deadlines` installs the backend on an `httpx.Client` after construction, so httpx keeps choosing
transports exactly as before (environment proxies included). It reaches two private attributes (httpx's
`HTTPTransport._pool`, httpcore's `ConnectionPool._network_backend`) because httpx does not expose the
backend; if an upgrade renames them it raises at client construction instead of silently dropping deadlines,
and the sandbox tests that trickle headers would fail.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

__all__ = [
    "DEFAULT_DEADLINE_S",
    "Deadline",
    "DeadlineBackend",
    "current_deadline",
    "deadline_scope",
    "enforce_deadlines",
]

# Long enough for a 50 MB attachment on a slow link, short enough that a stalled call frees the run (setting
# `qonto_request_deadline_s`).
DEFAULT_DEADLINE_S = 120.0
_WRITE_PIECE = 65536  # writes are split so each piece waits at most the time left


class Deadline:
    """The instant (monotonic clock) by which one network call must be over, and whether it cut the call short."""

    __slots__ = ("expires_at", "hit", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.hit = False  # set when a socket wait was cut (or refused) because of this deadline

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds:g}, remaining={self.remaining():.3f}, hit={self.hit})"


_current: ContextVar[Deadline | None] = ContextVar("well_qonto_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the network call in progress on this thread, if any."""
    return _current.get()


@contextmanager
def deadline_scope(seconds: float | None) -> Iterator[Deadline | None]:
    """Run one network call under a deadline of `seconds` (None: no deadline of its own).

    Yields the deadline that applies: this one, or the enclosing one when that ends sooner.
    """
    outer = _current.get()
    if seconds is None:
        yield outer
        return
    mine = Deadline(seconds)
    effective = outer if outer is not None and outer.expires_at <= mine.expires_at else mine
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)


_Timeout = type[httpcore.TimeoutException]


def _clamp(timeout: float | None, error: _Timeout) -> tuple[float | None, Deadline | None]:
    """The timeout to give one socket wait, and the deadline when it is the one limiting that wait."""
    deadline = _current.get()
    if deadline is None:
        return timeout, None
    left = deadline.remaining()
    if left <= 0:
        deadline.hit = True
        # Never pass 0 to settimeout(): that makes the socket non-blocking instead of timing out.
        raise error(f"deadline of {deadline.seconds:g} s passed")
    if timeout is not None and timeout < left:
        return timeout, None
    return left, deadline


def _bounded(call: typing.Callable[[float | None], typing.Any], timeout: float | None, error: _Timeout) -> typing.Any:
    """Run one socket wait with its timeout clamped; a timeout caused by the deadline marks it hit."""
    clamped, limiting = _clamp(timeout, error)
    try:
        return call(clamped)
    except httpcore.TimeoutException:
        if limiting is not None:
            limiting.hit = True
        raise


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every wait ends by the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _bounded(lambda t: self._inner.read(max_bytes, t), timeout, httpcore.ReadTimeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), _WRITE_PIECE):
            piece = bytes(view[start:start + _WRITE_PIECE])
            _bounded(lambda t, piece=piece: self._inner.write(piece, t), timeout, httpcore.WriteTimeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = _bounded(lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout,
                         httpcore.ConnectTimeout)
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every connection made of `DeadlineStream`s."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = _bounded(lambda t: self._inner.connect_tcp(host, port, t, local_address, socket_options),
                          timeout, httpcore.ConnectTimeout)
        return DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = _bounded(lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout,
                          httpcore.ConnectTimeout)
        return DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def enforce_deadlines(client: httpx.Client) -> httpx.Client:
    """Put `DeadlineBackend` under every network transport of `client` (see the module docstring).

    Transports that are not httpx's own (a test's `MockTransport`) have no sockets and are left as they are.
    """
    transports = [client._transport, *client._mounts.values()]  # noqa: SLF001 (see the module docstring)
    for transport in transports:
        if not isinstance(transport, httpx.HTTPTransport):
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise RuntimeError("cannot install Qonto request deadlines: httpx/httpcore internals changed "
                               "(HTTPTransport._pool._network_backend); pin httpx or update deadline.py")
        if not isinstance(backend, DeadlineBackend):
            pool._network_backend = DeadlineBackend(backend)  # noqa: SLF001
    return client
