"""Per-client-IP sliding-window rate limiting (Qonto: 1,000 req / 10 s and 10,000 req / 10 min per IP).

Sliding windows (a deque of accepted-request times per IP and window) rather than fixed buckets, because a
client that bursts across a bucket boundary must still be refused, as it would be by a real gateway.
Refused requests do not consume a slot. Retry-After is the whole number of seconds until the oldest
request leaves the full window; whether Qonto sends it at all is UNCONFIRMED.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from .clock import Clock, system_clock


@dataclass(frozen=True)
class Window:
    """At most `limit` requests per `seconds`; limit 0 disables the window."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class Decision:
    """Outcome of one check: allowed, or refused with the seconds until a slot frees."""

    allowed: bool
    retry_after_s: int = 0


class SlidingWindowLimiter:
    """Thread-safe limiter over several windows; a request must fit in all of them."""

    def __init__(self, windows: list[Window], clock: Clock = system_clock) -> None:
        self._windows = [w for w in windows if w.limit > 0]
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, list[deque[float]]] = {}

    def check(self, key: str) -> Decision:
        """Record a request from `key` if every window has room; otherwise refuse it."""
        if not self._windows:
            return Decision(True)
        now = self._clock()
        with self._lock:
            queues = self._hits.get(key)
            if queues is None:
                queues = [deque() for _ in self._windows]
                self._hits[key] = queues
            wait = 0.0
            for window, queue in zip(self._windows, queues, strict=True):
                horizon = now - window.seconds
                while queue and queue[0] <= horizon:
                    queue.popleft()
                if len(queue) >= window.limit:
                    # The slot frees when the request `limit` places back leaves the window.
                    oldest_blocking = queue[len(queue) - window.limit]
                    wait = max(wait, oldest_blocking + window.seconds - now)
            if wait > 0:
                return Decision(False, max(1, math.ceil(wait)))
            for queue in queues:
                queue.append(now)
            return Decision(True)

    def reset(self) -> None:
        """Forget all history."""
        with self._lock:
            self._hits.clear()
