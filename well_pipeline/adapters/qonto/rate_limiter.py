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

Waits are made visible: `acquire(on_wait=...)` announces each wait before sleeping it (a `LimiterWait`: how long,
and which window is full), and `WaitReporter` turns those announcements into one log line per long stall (a
backfill past ~9,500 requests waits ~8.5 minutes in each 10-minute window) and measures the stalled wall time,
so a long wait is neither silent nor mistaken for a hang.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["DEFAULT_WINDOWS", "LONG_WAIT_S", "LimiterWait", "RateLimiter", "RateWindow", "WaitReporter"]

LONG_WAIT_S = 2.0  # a limiter wait at least this long is logged: shorter ones are the normal pacing of a burst


@dataclass(frozen=True)
class RateWindow:
    """At most `max_requests` grants in any `period_s`-second span; `setting` names the setting that sets it."""

    max_requests: int
    period_s: float
    setting: str = field(default="", compare=False)  # a window is its numbers; the name is for messages

    def __post_init__(self) -> None:
        if self.max_requests < 1:
            raise ValueError("RateWindow.max_requests must be >= 1")
        if self.period_s <= 0:
            raise ValueError("RateWindow.period_s must be > 0")


PER_10S_SETTING = "qonto_requests_per_10s"
PER_10MIN_SETTING = "qonto_requests_per_10min"
DEFAULT_WINDOWS: tuple[RateWindow, ...] = (RateWindow(950, 10.0, PER_10S_SETTING),
                                           RateWindow(9_500, 600.0, PER_10MIN_SETTING))


@dataclass(frozen=True)
class LimiterWait:
    """A wait `acquire()` is about to sleep: `seconds` until a slot frees, because `window` is full (it counts
    `in_window` grants) or, with `window` None, because a 429 from Qonto paused every caller."""

    seconds: float
    window: RateWindow | None
    in_window: int = 0

    def describe(self, resumes_at: datetime | None = None) -> str:
        """One log line: what is full, the ceiling's setting and the time left before requests resume."""
        until = f" (until about {resumes_at:%H:%M:%S} UTC)" if resumes_at is not None else ""
        if self.window is None:
            return (f"Qonto rate limit: Qonto answered 429 (too many requests); every request waits "
                    f"{_duration(self.seconds)}{until}")
        window = self.window
        ceiling = f" (setting {window.setting})" if window.setting else ""
        return (f"Qonto rate limit: {self.in_window:,} requests in the last {_duration(window.period_s)}, the "
                f"client's ceiling of {window.max_requests:,}{ceiling}; waiting {_duration(self.seconds)} for the "
                f"window to free a slot{until}")


def _duration(seconds: float) -> str:
    """`8 min 32 s`, `10 min`, `4 s`: readable in a log line."""
    minutes, rest = divmod(round(seconds), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


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
        windows = [RateWindow(per_10s, 10.0, PER_10S_SETTING)]
        if per_10min:
            windows.append(RateWindow(per_10min, 600.0, PER_10MIN_SETTING))
        return cls(windows)

    @property
    def windows(self) -> tuple[RateWindow, ...]:
        return self._windows

    @property
    def clock(self) -> Callable[[], float]:
        """The clock waits are measured on (a `WaitReporter` of this limiter uses it too)."""
        return self._clock

    def __repr__(self) -> str:
        spec = ", ".join(f"{w.max_requests}/{w.period_s:g}s" for w in self._windows)
        return f"RateLimiter({spec})"

    def _wait_time(self, now: float) -> float:
        """Seconds until a grant is possible (0 when possible now). Caller holds the lock."""
        return self._blocking(now).seconds

    def _blocking(self, now: float) -> LimiterWait:
        """The wait before a grant is possible and what causes it (the longest wait wins). Caller holds the lock."""
        blocking = LimiterWait(self._paused_until - now, None)
        for window, grants in zip(self._windows, self._grants, strict=True):
            horizon = now - window.period_s
            while grants and grants[0] <= horizon:
                grants.popleft()
            if len(grants) >= window.max_requests:
                # The grant that must age out first is the one `max_requests` positions from the end.
                oldest_blocking = grants[len(grants) - window.max_requests]
                wait = oldest_blocking + window.period_s - now
                if wait > blocking.seconds:
                    blocking = LimiterWait(wait, window, len(grants))
        return blocking

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now; never blocks."""
        with self._lock:
            now = self._clock()
            if self._wait_time(now) > 0:
                return False
            for grants in self._grants:
                grants.append(now)
            return True

    def acquire(self, on_wait: Callable[[LimiterWait], None] | None = None) -> float:
        """Block until every window has room, take the slot, and return the seconds spent waiting.

        `on_wait` is told of each wait before it is slept (outside the lock, so it may log).
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                blocking = self._blocking(now)
                if blocking.seconds <= 0:
                    for grants in self._grants:
                        grants.append(now)
                    return waited
            if on_wait is not None:
                on_wait(blocking)
            # Sleep outside the lock so other threads can still be granted slots that free up.
            self._sleep(blocking.seconds)
            waited += blocking.seconds

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


class WaitReporter:
    """Makes a client's limiter waits visible: one log line per long stall, and the stalled wall time.

    Pass `reporter.on_wait` to `acquire()` and call `reporter.done()` after it returns. A wait of at least
    `threshold_s` is reported through `report` (a message; the client passes it the caller's log), once per
    stall: the threads waiting for the same slot to free (attachment downloads, list pages) announce waits
    ending at about the same moment, and only a wait reaching more than `threshold_s` past the last reported
    one is new. `report` is called from the waiting thread.

    `stalled_s` is wall time during which at least one request was held by the limiter, not the sum of every
    thread's wait: eight downloads stalled together for 8 minutes are 8 minutes of the run, not 64.
    """

    def __init__(self, *, threshold_s: float = LONG_WAIT_S, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.threshold_s = threshold_s
        self.report: Callable[[str], None] | None = None
        self.reported = 0
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._reported_until = float("-inf")
        self._waiting: dict[int, float] = {}  # thread id -> when its current wait started
        self._stall_started = 0.0
        self._stalled_s = 0.0

    @property
    def stalled_s(self) -> float:
        """Seconds of wall time with at least one request waiting (ongoing stalls count up to now)."""
        with self._lock:
            ongoing = self._clock() - self._stall_started if self._waiting else 0.0
            return self._stalled_s + ongoing

    def on_wait(self, wait: LimiterWait) -> None:
        """`acquire()`'s callback: start timing this thread's wait and report it if it is a new long one."""
        now = self._clock()
        with self._lock:
            thread = threading.get_ident()
            if thread not in self._waiting:
                if not self._waiting:
                    self._stall_started = now
                self._waiting[thread] = now
            resumes = now + wait.seconds
            report = self.report
            new = (report is not None and wait.seconds >= self.threshold_s
                   and resumes > self._reported_until + self.threshold_s)
            if new:
                self._reported_until = resumes
                self.reported += 1
        if new and report is not None:
            report(wait.describe(self._wall_clock() + timedelta(seconds=wait.seconds)))

    def done(self) -> float:
        """After `acquire()` returned: this thread's wait (if any) is over. Returns the seconds of a stall that
        ended now (the last waiting thread got its slot), else 0."""
        now = self._clock()
        with self._lock:
            if self._waiting.pop(threading.get_ident(), None) is None or self._waiting:
                return 0.0
            ended = now - self._stall_started
            self._stalled_s += ended
            return ended
