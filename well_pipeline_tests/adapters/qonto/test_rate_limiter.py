"""Sliding-window rate limiter: exact behaviour and throughput on a fake clock, thread safety on a real one."""

from __future__ import annotations

import threading
import time

import pytest

from well_pipeline.adapters.qonto.rate_limiter import DEFAULT_WINDOWS, RateLimiter, RateWindow


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
