"""Client-side sliding-window rate limiter shared by all threads of a Qonto client.

Why client-side: Qonto allows 1,000 requests per 10 s *and* 10,000 per 10 min per IP and answers 429 beyond
either. Waiting a few milliseconds before sending is far cheaper than being refused and backing off, and it
keeps concurrent attachment downloads from tripping the limit together. The defaults (950 / 10 s and
9,500 / 600 s) leave a 5 % margin for clock skew between us and Qonto's gateway and for other tools on the
same IP.

Each window remembers the send times of its last `max_requests` grants (a deque), so a grant is allowed only
if every window has had fewer than `max_requests` grants in the last `period_s` seconds — a true sliding
window, never bursting at window edges. `penalize()` pauses every caller after a 429 so a shared limiter
stops the whole client, not just the thread that was refused.

The limiter is per process; Qonto's limit is per IP. Several processes on one host each need a smaller
share (settings `qonto_requests_per_10s`), and 429 handling in the client remains the backstop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_WINDOWS", "RateLimiter", "RateWindow"]


@dataclass(frozen=True)
class RateWindow:
    """At most `max_requests` grants in any `period_s`-second span."""

    max_requests: int
    period_s: float

    def __post_init__(self) -> None:
        if self.max_requests < 1:
            raise ValueError("RateWindow.max_requests must be >= 1")
        if self.period_s <= 0:
            raise ValueError("RateWindow.period_s must be > 0")


DEFAULT_WINDOWS: tuple[RateWindow, ...] = (RateWindow(950, 10.0), RateWindow(9_500, 600.0))


class RateLimiter:
    """Thread-safe limiter over several sliding windows at once; `acquire()` blocks until a slot is free.

    `clock` and `sleep` are injectable so tests can drive it with a fake clock.
    """

    def __init__(
        self,
        windows: Sequence[RateWindow] = DEFAULT_WINDOWS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._windows = tuple(windows)
        self._grants: tuple[deque[float], ...] = tuple(deque() for _ in self._windows)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = float("-inf")

    @classmethod
    def from_limits(cls, per_10s: int, per_10min: int = 0) -> RateLimiter:
        """Build from the two settings values; `per_10min == 0` disables the long window."""
        windows = [RateWindow(per_10s, 10.0)]
        if per_10min:
            windows.append(RateWindow(per_10min, 600.0))
        return cls(windows)

    @property
    def windows(self) -> tuple[RateWindow, ...]:
        return self._windows

    def __repr__(self) -> str:
        spec = ", ".join(f"{w.max_requests}/{w.period_s:g}s" for w in self._windows)
        return f"RateLimiter({spec})"

    def _wait_time(self, now: float) -> float:
        """Seconds until a grant is possible (0 when possible now). Caller holds the lock."""
        wait = self._paused_until - now
        for window, grants in zip(self._windows, self._grants, strict=True):
            horizon = now - window.period_s
            while grants and grants[0] <= horizon:
                grants.popleft()
            if len(grants) >= window.max_requests:
                # The grant that must age out first is the one `max_requests` positions from the end.
                oldest_blocking = grants[len(grants) - window.max_requests]
                wait = max(wait, oldest_blocking + window.period_s - now)
        return wait

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now; never blocks."""
        with self._lock:
            now = self._clock()
            if self._wait_time(now) > 0:
                return False
            for grants in self._grants:
                grants.append(now)
            return True

    def acquire(self) -> float:
        """Block until every window has room, take the slot, and return the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    for grants in self._grants:
                        grants.append(now)
                    return waited
            # Sleep outside the lock so other threads can still be granted slots that free up.
            self._sleep(wait)
            waited += wait

    def penalize(self, seconds: float) -> None:
        """Pause every caller for `seconds` from now (after a 429); never shortens an existing pause."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def in_window(self, index: int = 0) -> int:
        """Grants currently counted by window `index` (for tests and diagnostics)."""
        with self._lock:
            self._wait_time(self._clock())
            return len(self._grants[index])
