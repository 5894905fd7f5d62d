"""Daily partitions by Qonto record creation date (UTC), from a first day that does not move with the calendar.

Why daily: a three-year backfill stays near 1,100 partitions, well under Dagster's advised 100,000 (15-minute
partitions would pass it in under three years). The 15-minute cadence comes from the sync sensor instead,
which refreshes the current day, as Dagster advises for near-real-time ingestion.
`end_offset=1` exposes today's (still open) partition so the sensor can materialise it.

Each workspace has its own partitions. Their first day is resolved when the code location loads
(`workspace_history_start`, services/history_window.py): the workspace's `history_start` setting if set, else the
day its first `well qonto connect` stored in `<data_dir>/workspace.json`, else (before any connect) three years
back on the 1st of this month. Loading reads that small file and never opens DuckDB, so it neither waits for nor
takes the database's write lock. Code that needs the first day uses the workspace's partitions
(`WorkspaceBundle.partitions`), never `settings.history_start` (empty when unset).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from well_pipeline.adapters.workspace_state import workspace_file
from well_pipeline.services.history_window import HistoryStart, resolve_history_start
from well_pipeline.settings import Settings

logger = logging.getLogger(__name__)


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from `start` through today (today's open partition included)."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def workspace_history_start(settings: Settings) -> HistoryStart:
    """The first day of the workspace whose settings these are (read when its definitions are built)."""
    start = resolve_history_start(settings.history_start, workspace_file(settings.data_path),
                                  today=datetime.now(UTC).date())
    if start.source == "fallback":
        logger.info("Backfill window of workspace %s starts %s", getattr(settings, "workspace_id", "main"),
                    start.describe())
    return start


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The UTC days a run covers: one for a partition, several for a range (a single-run backfill)."""
    window = context.partition_time_window
    return [window.start.date() + timedelta(days=n) for n in range((window.end - window.start).days)]
