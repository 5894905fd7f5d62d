"""Injectable wall clock.

Token expiry, refresh grace, URL signatures and rate windows all read one clock, so tests can move time
forward (`ManualClock.advance`) instead of sleeping, and the production default is plain `time.time`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    """POSIX seconds now."""
    return time.time()


class ManualClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self._now += seconds
