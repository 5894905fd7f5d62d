"""Progress lines (services/progress.py), on a fake clock: throttling, the time left, the wording of the ends."""

from __future__ import annotations

import pytest

from well_pipeline.services.progress import Pace, Progress, duration, size, time_left


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def tracked(clock: FakeClock, total: int | None, *, every_s: float = 10.0, detail: str = ""
            ) -> tuple[Progress, list[str]]:
    lines: list[str] = []
    return Pace(every_s=every_s, clock=clock).track("ingest listing", "pages", total, lines.append,
                                                      detail=lambda: detail), lines


def test_a_long_run_logs_the_first_line_then_one_per_interval_then_the_last(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 1000)
    with progress:
        for _ in range(1000):
            clock.now += 0.5  # 500 s of work: about one line per 10 s, not one per page
            progress.advance()
    assert len(lines) == 1 + 50  # the first page, then every 20 pages (10 s); the last one says done
    assert lines[0] == "ingest listing: 1/1,000 pages · 0% · estimating…"
    assert lines[1] == "ingest listing: 21/1,000 pages · 2% · ~9 min left"  # 979 pages at 2 pages a second
    assert lines[-1] == "ingest listing: 1,000/1,000 pages · 100% · done in 8 min 20 s"


def test_interval_zero_logs_every_step(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 3, every_s=0)
    with progress:
        for _ in range(3):
            clock.now += 2
            progress.advance()
    assert [line.split(" · ")[0] for line in lines] == [f"ingest listing: {n}/3 pages" for n in (1, 2, 3)]
    assert lines[1] == "ingest listing: 2/3 pages · 66% · ~5 s left"
    assert lines[-1].endswith("· 100% · done in 6.0 s")  # no repeat of the done line when the block ends


def test_the_time_left_is_estimated_from_the_throughput_so_far(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 400, every_s=0)
    progress.advance()
    assert lines[-1].endswith("0% · estimating…")  # no time has passed: nothing to estimate from
    clock.now += 0.5
    progress.advance()
    assert lines[-1].endswith("0% · estimating…")  # under a second: start-up, not throughput
    clock.now += 59.5  # 2 pages in 60 s: 398 left take 3 h 19 min
    progress.advance(0)
    assert lines[-1] == "ingest listing: 2/400 pages · 0% · ~3 h 19 min left"
    clock.now += 60  # then 198 pages in a minute: 200 done in 120 s, 200 left in about 120 s
    progress.advance(198)
    assert lines[-1] == "ingest listing: 200/400 pages · 50% · ~2 min left"


def test_detail_counts_are_read_when_a_line_is_written(clock: FakeClock) -> None:
    records = [0]
    lines: list[str] = []
    progress = Pace(every_s=10, clock=clock).track(
        "ingest listing", "pages", 2, lines.append, detail=lambda: f"{records[0]:,} records")
    records[0] = 100
    progress.advance()
    records[0] = 1180
    clock.now += 1
    progress.advance()  # throttled: no line
    assert lines == ["ingest listing: 1/2 pages, 100 records · 50% · estimating…"]
    progress.finish()
    assert lines[-1] == "ingest listing: 2/2 pages, 1,180 records · 100% · done in 1.0 s"


def test_an_unknown_total_counts_without_percentage_or_estimate(clock: FakeClock) -> None:
    progress, lines = tracked(clock, None, every_s=0)
    with progress:
        clock.now += 30
        progress.advance(7)
    assert lines == ["ingest listing: 7 pages · total not known yet", "ingest listing: 7 pages · done in 30 s"]


def test_a_total_that_becomes_unknown_or_grows(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 0, every_s=0)
    progress.grow(2)  # the first pass: 2 pages
    progress.advance(2)
    progress.grow(3)  # the window is listed again: 3 more pages
    progress.advance()
    assert lines[-1] == "ingest listing: 3/5 pages · 60% · estimating…"
    progress.grow(None)  # a pass whose first page announced no total
    progress.advance()
    assert lines[-1] == "ingest listing: 4 pages · total not known yet"


def test_zero_work_is_done_at_once_and_a_failure_before_any_says_stopped(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 0)
    with progress:
        pass
    assert lines == ["ingest listing: 0/0 pages · 100% · done in 0.0 s"]
    progress, lines = tracked(clock, 0)
    with pytest.raises(RuntimeError), progress:
        clock.now += 3
        raise RuntimeError("Qonto unreachable")
    assert lines == ["ingest listing: 0/0 pages · stopped at 0% after 3.0 s"]


def test_work_that_stops_short_or_raises_says_where_it_stopped(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 642, every_s=10)
    with progress:  # a quota pause: the loop ends early without an error
        for _ in range(214):
            clock.now += 0.05
            progress.advance()
    assert lines[-1] == "ingest listing: 214/642 pages · stopped at 33% after 11 s"
    progress, lines = tracked(clock, 10, every_s=0)
    with pytest.raises(TimeoutError), progress:
        progress.advance(10)  # all done, then the block raises: the last line must not claim success
        raise TimeoutError
    assert lines[-1].startswith("ingest listing: 10/10 pages · stopped at 100% after")


def test_more_than_the_announced_total_claims_nothing_until_the_end(clock: FakeClock) -> None:
    progress, lines = tracked(clock, 2, every_s=0)
    with progress:
        progress.advance(3)  # Qonto's list grew while paging: one page more than announced
        assert lines[-1] == "ingest listing: 3/2 pages · 100%"
    assert lines[-1].startswith("ingest listing: 3/2 pages · 100% · done in")


def test_a_negative_or_non_number_interval_is_refused() -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="progress lines must be a number >= 0"):
            Pace(every_s=bad)


@pytest.mark.parametrize(("seconds", "text"), [(0.42, "0.4 s"), (42.4, "42 s"), (185, "3 min 05 s"),
                                               (3725, "1 h 02 min")])
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.2, "~5 s"), (11, "~15 s"), (61, "~2 min"), (7800, "~2 h 10 min")])
def test_time_left_is_rounded_up(seconds: float, text: str) -> None:
    assert time_left(seconds) == text


@pytest.mark.parametrize(("count", "text"), [(512, "512 B"), (840_000, "840.0 kB"), (2_100_000, "2.1 MB"),
                                             (1_300_000_000, "1.3 GB")])
def test_sizes(count: int, text: str) -> None:
    assert size(count) == text
