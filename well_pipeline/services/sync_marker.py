"""The Qonto sync marker: where the next incremental sync starts reading, and the rules that keep it honest.

The marker is the end of the window the last *successful* sync covered (naive reading: "everything Qonto updated
before it is stored"). The sync sensor keeps the live marker in its cursor (services/sync_cursor.py); DuckDB's
`sync_state` holds a copy written by each successful sync, which `well qonto status` shows and a sync launched by
hand (without a window) starts from. Its rules, in one place for the sensor, the sync job and `well qonto`:
- a sync reads records updated since the marker minus an overlap (Qonto does not document whether its filter
  bounds are inclusive), or everything when there is no marker yet;
- the marker moves only after a sync whose listing reconciled and whose pages and documents are committed; a
  failed run leaves it where it was, so the next sync reads the same window again;
- it is kept on Qonto's clock when Qonto runs behind ours (the Qonto-clock rule, `marker_for`), so an update
  Qonto stamps "earlier" than our start is not skipped;
- a person may move it back (`rewind`) to re-read a period; never forward, which would skip records.
Re-reading is always safe: rows are keyed on the Qonto id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from well_pipeline.adapters.storage import InvoiceStore
from well_pipeline.services.qonto_ingest import IngestWindow

SYNC_MARKER = "qonto.supplier_invoices.updated_at"


class MarkerRewindError(ValueError):
    """A rewind that would skip records or means nothing; the message says why, the marker is unchanged."""


def last_sync(store: InvoiceStore) -> datetime | None:
    """When the last successful sync started (timezone-aware), None before the first one."""
    value = store.get_marker(SYNC_MARKER)
    return _aware(datetime.fromisoformat(value)) if value else None


def window_since(marker: datetime | None, overlap_minutes: int, now: datetime) -> IngestWindow:
    """What a sync from `marker` lists: updated since the marker minus the overlap, up to `now`; everything up to
    `now` when there is no marker yet (everything Qonto exposes is new to us)."""
    if marker is None:
        return IngestWindow(updated_from=None, updated_to=now)
    return IngestWindow(updated_from=marker - timedelta(minutes=overlap_minutes), updated_to=now)


def incremental_window(store: InvoiceStore, overlap_minutes: int, now: datetime) -> IngestWindow:
    """What the next incremental sync lists from DuckDB's marker (a sync launched without a window)."""
    return window_since(last_sync(store), overlap_minutes, now)


def marker_for(sync_started: datetime, server_offset_s: float | None) -> datetime:
    """The marker to store: our start time, moved back by Qonto's lag (and its `Date` header's 1 s rounding)."""
    if server_offset_s is None or server_offset_s >= 0:
        return sync_started
    return sync_started + timedelta(seconds=server_offset_s - 1)


def advance_after_sync(store: InvoiceStore, *, sync_started: datetime, server_offset_s: float | None,
                       listing_complete: bool) -> datetime | None:
    """Move the marker after a sync that stored everything; returns the new marker, None when it stays.

    Call it only once every page and document of the run is committed: the marker then promises that nothing
    updated before it is missing. A listing that did not reconcile with Qonto's count keeps the marker.
    """
    if not listing_complete:
        return None
    moment = marker_for(sync_started, server_offset_s)
    store.set_marker(SYNC_MARKER, moment.isoformat())
    return moment


def check_rewind(current: datetime | None, to: datetime, *, now: datetime) -> datetime:
    """`to` in UTC, when moving the marker `current` back to it is allowed; else `MarkerRewindError` saying why.

    Refused when `to` has no timezone (ambiguous), lies in the future or after the current marker (moving forward
    would skip records), or when no sync succeeded yet (the next sync reads everything anyway; setting a marker
    would make it skip what came before).
    """
    if to.tzinfo is None or to.utcoffset() is None:
        raise MarkerRewindError(f"{to.isoformat()} has no timezone: add Z (UTC) or an offset such as +02:00")
    to = to.astimezone(UTC)
    if to > now:
        raise MarkerRewindError(f"{to.isoformat()} is in the future: a marker there would skip every update "
                                "until then")
    if current is None:
        raise MarkerRewindError("no sync has succeeded yet: the next sync reads every record, nothing to rewind")
    if to > current:
        raise MarkerRewindError(f"{to.isoformat()} is after the current marker {current.isoformat()}: moving it "
                                "forward would skip records (only a successful sync moves it forward)")
    return to


def rewind(store: InvoiceStore, to: datetime, *, now: datetime) -> tuple[datetime, datetime]:
    """Move DuckDB's copy of the marker back to `to` (see `check_rewind`; refused: nothing changed); returns
    (before, after). The sensor's own marker is moved by its cursor (`well qonto rewind` does both)."""
    current = last_sync(store)
    to = check_rewind(current, to, now=now)
    assert current is not None  # check_rewind refuses a missing marker
    store.set_marker(SYNC_MARKER, to.isoformat())
    return current, to


def _aware(moment: datetime) -> datetime:
    """Markers are written with their offset; one written without (by hand) is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
