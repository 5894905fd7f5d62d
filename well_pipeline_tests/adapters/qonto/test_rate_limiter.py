"""Sliding-window rate limiter: exact behaviour and throughput on a fake clock, thread safety on a real one."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from well_pipeline.adapters.qonto.rate_limiter import (
    DEFAULT_WINDOWS,
    LimiterWait,
    RateLimiter,
    RateWindow,
    WaitReporter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(windows: list[RateWindow]) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(windows, clock=clock, sleep=clock.sleep), clock


def test_defaults_stay_under_qonto_limits() -> None:
    assert DEFAULT_WINDOWS == (RateWindow(950, 10.0), RateWindow(9_500, 600.0))


def test_short_window_blocks_until_oldest_grant_ages_out() -> None:
    limiter, clock = make([RateWindow(3, 10.0)])
    for _ in range(3):
        assert limiter.acquire() == 0
    clock.now += 4
    waited = limiter.acquire()  # must wait until t0 + 10
    assert waited == pytest.approx(6.0)
    assert clock.now == pytest.approx(1010.0)


def test_sliding_not_fixed_window() -> None:
    # 2 per 10 s: grants at t=0 and t=9 mean the 3rd is allowed at t=10, the 4th only at t=19.
    limiter, clock = make([RateWindow(2, 10.0)])
    limiter.acquire()
    clock.now += 9
    limiter.acquire()
    limiter.acquire()
    assert clock.now == pytest.approx(1010.0)
    limiter.acquire()
    assert clock.now == pytest.approx(1019.0)


def test_long_window_binds_when_short_one_does_not() -> None:
    limiter, clock = make([RateWindow(5, 1.0), RateWindow(8, 60.0)])
    times = []
    for _ in range(10):
        limiter.acquire()
        times.append(clock.now - 1000.0)
    # First 5 immediately, next 3 after the 1 s window frees, then the 60 s window holds the 9th and 10th.
    assert times[:5] == [0.0] * 5
    assert times[5:8] == [pytest.approx(1.0)] * 3
    assert times[8] == pytest.approx(60.0)
    assert times[9] == pytest.approx(60.0)
    # Invariant: no 1-s span holds more than 5 and no 60-s span more than 8.
    for i, t in enumerate(times):
        assert sum(1 for u in times if t <= u < t + 1.0) <= 5
        assert sum(1 for u in times if t <= u < t + 60.0) <= 8, i


def test_penalize_pauses_everyone_and_never_shortens() -> None:
    limiter, clock = make([RateWindow(100, 10.0)])
    limiter.penalize(5)
    limiter.penalize(2)  # shorter: ignored
    assert limiter.acquire() == pytest.approx(5.0)
    assert limiter.try_acquire()


def test_try_acquire_never_blocks() -> None:
    limiter, clock = make([RateWindow(1, 10.0)])
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert clock.sleeps == []


def test_invalid_windows() -> None:
    with pytest.raises(ValueError):
        RateWindow(0, 1.0)
    with pytest.raises(ValueError):
        RateWindow(1, 0)


def test_from_limits_disables_long_window_with_zero() -> None:
    assert RateLimiter.from_limits(950, 0).windows == (RateWindow(950, 10.0),)
    assert len(RateLimiter.from_limits(950, 9500).windows) == 2


def test_a_saturated_limiter_sustains_exactly_its_ceiling() -> None:
    # Ceiling 200/s expressed as 20 per 0.1 s; 140 grants: the burst of 20, then 120 more in exactly 6 windows.
    # On the fake clock this is exact, where a real clock measures the machine's load as much as the limiter.
    limiter, clock = make([RateWindow(20, 0.1)])
    for _ in range(140):
        limiter.acquire()
    elapsed = clock.now - 1000.0
    assert elapsed == pytest.approx(0.6)
    assert (140 - 20) / elapsed == pytest.approx(200)  # the burst excluded: never less than the ceiling


def test_threads_never_exceed_the_ceiling() -> None:
    # 8 threads take 140 slots at 20 per 0.1 s on the real clock. Each grant's time is the clock reading the
    # limiter granted it at (taken under its lock), not when the thread got round to noting it: a preempted
    # thread on a busy machine cannot make a correct limiter look wrong.
    granted_at = threading.local()

    def clock() -> float:
        granted_at.now = time.monotonic()
        return granted_at.now

    limiter = RateLimiter([RateWindow(20, 0.1)], clock=clock)
    grants: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for _ in range(n):
            limiter.acquire()
            with lock:
                grants.append(granted_at.now)  # the last reading of this thread's acquire(): its grant

    threads = [threading.Thread(target=worker, args=(140 // 8 + (1 if i < 140 % 8 else 0),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 140
    grants.sort()
    for i in range(len(grants) - 20):  # never 21 grants within 0.1 s
        assert grants[i + 20] - grants[i] >= 0.1 - 1e-9, i


# -- visible waits (issue 10): each wait is announced before it is slept; long stalls reported once ---------------


def test_acquire_announces_each_wait_with_the_full_window_before_sleeping_it() -> None:
    limiter, clock = make([RateWindow(5, 1.0, "qonto_requests_per_10s"), RateWindow(8, 60.0, "per_minute")])
    announced: list[tuple[float, LimiterWait]] = []
    for _ in range(9):
        limiter.acquire(on_wait=lambda wait: announced.append((clock.now, wait)))
    # The 1 s window held the 6th grant; the 60 s window (8 grants counted) held the 9th for the rest of its minute.
    assert [(at - 1000.0, w.seconds, w.window, w.in_window) for at, w in announced] == [
        (0.0, pytest.approx(1.0), RateWindow(5, 1.0), 5),
        (pytest.approx(1.0), pytest.approx(59.0), RateWindow(8, 60.0), 8)]
    assert clock.sleeps == [w.seconds for _, w in announced]  # announced, then slept: nothing slept unannounced
    line = announced[1][1].describe(datetime(2026, 3, 14, 9, 31, 5, tzinfo=UTC))
    assert line == ("Qonto rate limit: 8 requests in the last 1 min, the client's ceiling of 8 (setting per_minute); "
                    "waiting 59 s for the window to free a slot (until about 09:31:05 UTC)")


def test_a_pause_after_a_429_is_announced_as_qontos_answer() -> None:
    limiter, _ = make([RateWindow(100, 10.0)])
    limiter.penalize(30)
    announced: list[LimiterWait] = []
    limiter.acquire(on_wait=announced.append)
    assert [(w.seconds, w.window) for w in announced] == [(pytest.approx(30.0), None)]
    assert announced[0].describe() == ("Qonto rate limit: Qonto answered 429 (too many requests); every request "
                                       "waits 30 s")


def test_the_default_windows_name_their_settings() -> None:
    limiter = RateLimiter.from_limits(950, 9500)
    assert [w.setting for w in limiter.windows] == ["qonto_requests_per_10s", "qonto_requests_per_10min"]
    assert [w.setting for w in DEFAULT_WINDOWS] == ["qonto_requests_per_10s", "qonto_requests_per_10min"]
    assert "8 min 32 s" in LimiterWait(512.0, DEFAULT_WINDOWS[1], 9500).describe()


def test_the_reporter_reports_a_long_stall_once_and_times_it_in_wall_seconds() -> None:
    clock = FakeClock()
    reporter = WaitReporter(threshold_s=2.0, clock=clock)
    lines: list[str] = []
    reporter.report = lines.append
    window = RateWindow(9500, 600.0, "qonto_requests_per_10min")

    reporter.on_wait(LimiterWait(1.5, window, 9500))  # short: the normal pacing of a burst, not reported
    clock.now += 1.5
    assert reporter.done() == pytest.approx(1.5) and lines == []

    # Three threads stall on the same full window, announcing waits that end within a second of each other.
    announced = threading.Barrier(4)
    release = threading.Event()

    def stalled_thread(wait_s: float) -> None:
        reporter.on_wait(LimiterWait(wait_s, window, 9500))
        announced.wait(timeout=30)
        release.wait(timeout=30)  # limits, not measurements: the main thread releases them
        reporter.done()

    workers = [threading.Thread(target=stalled_thread, args=(w,)) for w in (512.0, 511.6, 512.4)]
    for worker in workers:
        worker.start()
    announced.wait(timeout=30)
    assert len(lines) == 1 and "waiting 8 min 32 s" in lines[0] and "qonto_requests_per_10min" in lines[0]
    assert reporter.reported == 1
    clock.now += 512.4
    release.set()
    for worker in workers:
        worker.join()
    assert reporter.stalled_s == pytest.approx(1.5 + 512.4)  # one stall of 512.4 s, not three

    # A later stall, well past the reported one, is new.
    clock.now += 600
    reporter.on_wait(LimiterWait(300.0, window, 9500))
    assert len(lines) == 2 and reporter.reported == 2


def test_stalled_time_counts_overlapping_waits_once() -> None:
    clock = FakeClock()
    reporter = WaitReporter(clock=clock)
    window = RateWindow(2, 10.0)
    started = threading.Event()
    release = threading.Event()
    ended: list[float] = []

    def waiting_thread() -> None:
        reporter.on_wait(LimiterWait(10.0, window, 2))
        started.set()
        release.wait(timeout=30)  # a limit, not a measurement: the main thread releases it
        ended.append(reporter.done())

    other = threading.Thread(target=waiting_thread)
    other.start()
    assert started.wait(timeout=30)
    reporter.on_wait(LimiterWait(10.0, window, 2))  # this thread joins the same stall 4 s in
    clock.now += 4
    reporter.on_wait(LimiterWait(6.0, window, 2))  # (its loop announces again: still one wait)
    clock.now += 6
    assert reporter.done() == 0.0  # the other thread still waits: the stall goes on
    assert reporter.stalled_s == pytest.approx(10.0)
    release.set()
    other.join()
    assert ended == [pytest.approx(10.0)]  # ten wall seconds, though two threads waited 10 s and 6 s
    assert reporter.stalled_s == pytest.approx(10.0)
