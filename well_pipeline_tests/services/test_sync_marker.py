"""The sync-marker rules, on a real DuckDB store: where a sync starts, when the marker moves, Qonto's clock, rewind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from well_pipeline.adapters.storage import DuckDBStorage, InvoiceStore
from well_pipeline.services.qonto_ingest import IngestWindow
from well_pipeline.services.sync_marker import (
    SYNC_MARKER,
    MarkerRewindError,
    advance_after_sync,
    incremental_window,
    last_sync,
    marker_for,
    rewind,
)

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> InvoiceStore:
    return DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments").invoices


def test_the_first_sync_reads_everything_later_ones_since_the_marker_minus_the_overlap(store: InvoiceStore) -> None:
    assert last_sync(store) is None
    assert incremental_window(store, 10, START) == IngestWindow(updated_from=None, updated_to=START)
    assert advance_after_sync(store, sync_started=START, server_offset_s=None, listing_complete=True) == START
    assert store.get_marker(SYNC_MARKER) == "2026-11-25T12:00:00+00:00"  # the stored form `well qonto status` shows
    later = START + timedelta(minutes=15)
    assert incremental_window(store, 10, later) == IngestWindow(updated_from=START - timedelta(minutes=10),
                                                                updated_to=later)


def test_the_marker_stays_when_the_listing_did_not_reconcile(store: InvoiceStore) -> None:
    advance_after_sync(store, sync_started=START, server_offset_s=None, listing_complete=True)
    moved = advance_after_sync(store, sync_started=START + timedelta(hours=1), server_offset_s=None,
                               listing_complete=False)
    assert moved is None and last_sync(store) == START


def test_sync_marker_follows_qontos_clock_when_it_runs_behind(store: InvoiceStore) -> None:
    assert marker_for(START, None) == START
    assert marker_for(START, 30.0) == START  # Qonto ahead: records only arrive later, nothing is skipped
    assert marker_for(START, -900.0) == START - timedelta(seconds=901)
    advance_after_sync(store, sync_started=START, server_offset_s=-900.0, listing_complete=True)
    assert last_sync(store) == START - timedelta(seconds=901)


def test_rewind_moves_the_marker_back_and_the_next_window_with_it(store: InvoiceStore) -> None:
    advance_after_sync(store, sync_started=START, server_offset_s=None, listing_complete=True)
    paris = datetime(2026, 11, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    before, after = rewind(store, paris, now=START + timedelta(minutes=1))
    assert before == START and after == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert last_sync(store) == after
    assert incremental_window(store, 0, START).updated_from == after


@pytest.mark.parametrize("to,why", [
    (datetime(2026, 11, 1, 9, 0), "no timezone"),
    (START + timedelta(hours=2), "in the future"),
    (START + timedelta(minutes=30), "after the current marker"),
])
def test_rewind_refuses_what_would_skip_records_and_changes_nothing(store: InvoiceStore, to: datetime,
                                                                     why: str) -> None:
    advance_after_sync(store, sync_started=START, server_offset_s=None, listing_complete=True)
    with pytest.raises(MarkerRewindError, match=why):
        rewind(store, to, now=START + timedelta(hours=1))
    assert last_sync(store) == START


def test_rewind_before_any_sync_is_refused(store: InvoiceStore) -> None:
    with pytest.raises(MarkerRewindError, match="no sync has succeeded yet"):
        rewind(store, START - timedelta(days=1), now=START)
    assert store.get_marker(SYNC_MARKER) is None
