"""Progress lines of long work, for a person following a run's log: counts, percentage, time left.

Why: a multi-year backfill lists about a thousand pages, downloads as many attachments as records and sends as
many e-mails; with one line per page or record the event log drowns, with none it looks stuck. A `Progress`
writes at most one line every `Pace.every_s` seconds (10 s by default), plus the first and the last, so a
three-year backfill logs tens of lines:

    ingest listing: 12/37 pages, 1,180 records (1,180 new, 0 changed, 0 rejected) · 32% · ~2 min left
    ingest attachments: 37/37 attachments, 2.1 MB, 0 failed · 100% · done in 4.2 s

The time left is the work left at the average throughput of the phase so far ("estimating…" until it has run for
`ESTIMATE_AFTER_S` seconds). Nothing here reads the clock or writes anywhere on its own: the clock comes with the
`Pace` (tests inject one) and each line goes to the caller's `log` callable (the Dagster event log in a run).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

PROGRESS_EVERY_S = 10.0
ESTIMATE_AFTER_S = 1.0  # below this, an average says more about start-up than about throughput

Log = Callable[[str], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Pace:
    """How often a progress line may be written (`every_s`; 0: on every step) and the clock deciding it."""

    every_s: float = PROGRESS_EVERY_S
    clock: Clock = time.monotonic

    def __post_init__(self) -> None:
        if not (math.isfinite(self.every_s) and self.every_s >= 0):
            raise ValueError(f"seconds between progress lines must be a number >= 0, got {self.every_s!r}")

    def track(self, label: str, unit: str, total: int | None, log: Log, *,
              detail: Callable[[], str] = lambda: "", started: float | None = None) -> Progress:
        """A `Progress` of `total` `unit`s (None: unknown) writing to `log`; `detail()` gives the other counts
        (called only when a line is written), shown after the main one: `12/37 pages, <detail> · …`. `started`:
        when the work began by this pace's clock, when that was before it could be counted (default: now)."""
        return Progress(label, unit, total, log=log, pace=self, detail=detail, started=started)


DEFAULT_PACE = Pace()


class Progress:
    """Done/total of one phase of work, logged as throttled lines. Use it as a context manager: leaving the block
    writes the last line, "done in …" or, when the work stopped short or raised, "stopped at …"."""

    def __init__(self, label: str, unit: str, total: int | None, *, log: Log, pace: Pace = DEFAULT_PACE,
                 detail: Callable[[], str] = lambda: "", started: float | None = None) -> None:
        self.label, self.unit, self.total = label, unit, total
        self.done = 0
        self._log, self._pace, self._detail = log, pace, detail
        self._started = pace.clock() if started is None else started
        self._last_line_at: float | None = None
        self._changed = False  # done or total changed since the last line

    # -- what the work reports ----------------------------------------------------------------------------------
    def advance(self, steps: int = 1) -> None:
        """`steps` more units done; writes a line when the first one or `every_s` after the last."""
        self.done += steps
        self._changed = True
        now = self._pace.clock()
        if self._last_line_at is None or now - self._last_line_at >= self._pace.every_s:
            self._write(now)

    def grow(self, more: int | None) -> None:
        """The work grew by `more` units (a listing pass over a window again); None makes the total unknown."""
        self.total = None if more is None or self.total is None else self.total + more
        self._changed = True

    def finish(self, *, failed: bool = False) -> None:
        """Write the last line, unless the last one written already said that everything was done."""
        said_done = self._last_line_at is not None and not self._changed and self.done == self.total
        if failed or not said_done:
            self._write(self._pace.clock(), final=True, failed=failed)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.finish(failed=kind is not None)

    # -- the line -----------------------------------------------------------------------------------------------
    @property
    def _complete(self) -> bool:
        return self.total is not None and self.done >= self.total

    def line(self, now: float, *, final: bool = False, failed: bool = False) -> str:
        """The progress line at clock time `now` (`final`: the work ended, `failed`: by an error)."""
        elapsed = max(now - self._started, 0.0)
        counted = f"{self.done:,} {self.unit}" if self.total is None else f"{self.done:,}/{self.total:,} {self.unit}"
        detail = self._detail()
        head = f"{self.label}: {counted}" + (f", {detail}" if detail else "")
        if self.total is None:
            if final:
                return f"{head} · {'stopped after' if failed else 'done in'} {duration(elapsed)}"
            return f"{head} · total not known yet"
        percent = min(self.done * 100 // self.total, 100) if self.total else 0 if failed else 100
        if final and (failed or not self._complete):
            return f"{head} · stopped at {percent}% after {duration(elapsed)}"
        if self.done == self.total or (final and self._complete):
            return f"{head} · 100% · done in {duration(elapsed)}"
        if self.done > self.total:  # the announced total was low (the list grew while paging): no estimate
            return f"{head} · 100%"
        if self.done == 0 or elapsed < ESTIMATE_AFTER_S:
            return f"{head} · {percent}% · estimating…"
        left = (self.total - self.done) * elapsed / self.done
        return f"{head} · {percent}% · {time_left(left)} left"

    def _write(self, now: float, *, final: bool = False, failed: bool = False) -> None:
        self._log(self.line(now, final=final, failed=failed))
        self._last_line_at = now
        self._changed = False


def duration(seconds: float) -> str:
    """A measured time: `0.4 s`, `42 s`, `3 min 05 s`, `1 h 02 min`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def time_left(seconds: float) -> str:
    """An estimate, rounded up to what it can promise: `~10 s` (5 s steps), `~3 min`, `~2 h 10 min`."""
    if seconds < 60:
        return f"~{max(5, math.ceil(seconds / 5) * 5)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"~{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes:02d} min"


def size(count: int) -> str:
    """A byte count for a reader: `512 B`, `840 kB`, `2.1 MB`, `1.3 GB` (decimal units, like the rest of Well)."""
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if count >= limit:
            return f"{count / limit:.1f} {unit}"
    return f"{count} B"
