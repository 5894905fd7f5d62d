"""A workspace's Dagster definitions for tests: `bundle_for(settings)` builds them as the code location does.

The default workspace `main` (no workspace file) is what every single-company test runs; its names are here
(`MAIN`, and its asset keys under the names the tests have always used), so a test reads `SCORED_MATCHES` and means
`main/scored_matches`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from well_pipeline.defs.qonto.partitions import daily_partitions
from well_pipeline.defs.workspace.factory import WorkspaceBundle, build_workspace
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.services.history_window import calendar_start
from well_pipeline.settings import Settings
from well_pipeline.workspaces import DEFAULT_WORKSPACE_ID, Workspace

MAIN = WorkspaceNames(DEFAULT_WORKSPACE_ID)
QONTO_SUPPLIER_INVOICES = MAIN.invoices
SCORED_MATCHES = MAIN.scored
DELIVERED_BILLS = MAIN.delivered
REVIEW_QUEUE = MAIN.review_queue
MELIO_VENDOR_DIRECTORY = MAIN.vendors
MELIO_LEDGER = MAIN.ledger


def workspace_of(settings: Settings, workspace_id: str = DEFAULT_WORKSPACE_ID, *,
                 source: Path | None = None) -> Workspace:
    """`settings` as workspace `workspace_id`'s (its id set in them, as the workspace loader sets it)."""
    if settings.workspace_id != workspace_id:
        settings = settings.replace(workspace_id=workspace_id)
    return Workspace(workspace_id, workspace_id.capitalize(), settings, source)


def bundle_for(settings: Settings, workspace_id: str = DEFAULT_WORKSPACE_ID) -> WorkspaceBundle:
    """Every definition of the workspace with these settings, as `definitions.defs()` builds it."""
    return build_workspace(workspace_of(settings, workspace_id))


def fallback_partitions() -> dg.DailyPartitionsDefinition:
    """The partitions of a workspace without the `history_start` setting and before its first connect (every
    test's fresh data directory): three years back, from the 1st of the month."""
    return daily_partitions(calendar_start(datetime.now(UTC).date()))
