"""What one pipeline run covers and which days each stage works on: ingest → score → deliver.

One code path for every way Well runs the three steps (the Dagster layer only chooses the scope):
- an **incremental sync** (`qonto_sync_job`, launched by the sync sensor): lists the records Qonto updated in a
  window, scores the days those records belong to (`IngestReport.touched_dates`) plus every stale day, and
  delivers those days plus every day with something still to send; the calendar is never read;
- a **partition range** (the `invoice_pipeline` multi-asset: one partition, or a single-run backfill from the UI):
  lists by creation date over the range's days, scores and delivers those days;
- **deliver approved** (`deliver_approved_job`): delivers every record waiting for delivery (approved, pinned,
  approved for a re-send, carried over by a quota pause), whatever its day. Nobody needs a record's date.

Rows are keyed on the Qonto id and the outbox claims each e-mail once, so any overlap between scopes, re-run or
rewind updates rows instead of duplicating them and never sends an e-mail twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from well_pipeline.adapters.storage import Storage
from well_pipeline.services.delivery import days_to_deliver
from well_pipeline.services.qonto_ingest import IngestWindow
from well_pipeline.services.scoring import stale_dates

# Qonto does not document whether its creation-date bounds are inclusive: a range is listed a minute wider on each
# side. Extra records are harmless (keyed on id, placed by their own date).
RANGE_SLACK = timedelta(minutes=1)


class Mode(StrEnum):
    SYNC = "incremental sync"
    RANGE = "partition range"
    APPROVED = "deliver approved"


@dataclass(frozen=True)
class RunScope:
    """What a run covers. `window`: what ingest lists (None: no listing); `days`: a partition range's days, in
    order; `whole_history`: the range is every partition, so its listing saw every record and its success may
    set the sync marker (a partial range cannot: a record created before its first day may have changed since)."""

    mode: Mode
    window: IngestWindow | None = None
    days: tuple[date, ...] = ()
    whole_history: bool = False

    @classmethod
    def sync(cls, window: IngestWindow) -> RunScope:
        return cls(Mode.SYNC, window=window)

    @classmethod
    def partition_range(cls, days: Sequence[date], *, whole_history: bool = False) -> RunScope:
        """The days [first, last] of a partition range, listed by creation date."""
        if not days:
            raise ValueError("a partition range holds at least one day")
        ordered = tuple(sorted(days))
        start = _midnight(ordered[0])
        end = _midnight(ordered[-1] + timedelta(days=1))
        return cls(Mode.RANGE, window=IngestWindow(created_from=start - RANGE_SLACK, created_to=end + RANGE_SLACK),
                   days=ordered, whole_history=whole_history)

    @classmethod
    def approved(cls) -> RunScope:
        return cls(Mode.APPROVED)

    @property
    def attachment_scope(self) -> tuple[date, date] | None:
        """[start, end) of the creation days whose missing documents ingest fetches; None (a sync): every one, so
        a failed download is retried whatever day its invoice belongs to."""
        if self.mode is Mode.RANGE:
            return self.days[0], self.days[-1] + timedelta(days=1)
        return None

    @property
    def sets_marker(self) -> bool:
        """Whether this run's success moves the sync marker: a sync always, a range only over the whole history."""
        return self.mode is Mode.SYNC or (self.mode is Mode.RANGE and self.whole_history)


def days_to_score(storage: Storage, scope: RunScope, touched: Iterable[date] = ()) -> list[date]:
    """The days a run scores: a range's days; for a sync, the days its records belong to (`touched`) plus every
    stale day (a record changed or a document arrived since it was scored, or a Melio export reloaded since)."""
    if scope.mode is Mode.RANGE:
        return list(scope.days)
    if scope.mode is Mode.SYNC:
        return sorted(set(touched) | set(stale_dates(storage)))
    return []


def days_to_deliver_in(storage: Storage, scope: RunScope, scored: Sequence[date] = ()) -> list[date]:
    """The days a run delivers: a range's days; for a sync, the scored days plus every day with something still to
    send (a quota pause, a temporary failure, an approval); for "deliver approved", the days of the records
    waiting for delivery."""
    if scope.mode is Mode.RANGE:
        return list(scope.days)
    if scope.mode is Mode.SYNC:
        return days_to_deliver(storage.outbox, scored, with_pending=True)
    return sorted({waiting.created_date for waiting in storage.outbox.awaiting_delivery()})


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
