"""Every Dagster name of one workspace, in one place: asset keys, group, op/job/sensor names, pool, resource keys.

Why every name carries the workspace (the default workspace `main` too): one code location serves every company,
and Dagster needs unique asset keys, node names (all assets share one implicit asset job), job and sensor names
and resource keys; a pool per workspace keeps one DuckDB writer per company without serialising companies
(docs/CONTRACTS.md lists them). Asset keys are `[<ws>, <name>]`, so the UI groups and filters them by workspace;
op, job, sensor and resource names take the suffix `__<ws>` (names allow `[A-Za-z0-9_]` only, and a workspace id
has no `__` itself, so the suffix is unambiguous). The sync names come from `services/sync_cursor.py`, which
the CLI reads without importing Dagster's definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from well_pipeline.services.sync_cursor import deliver_job_name, sensor_name, sync_job_name
from well_pipeline.workspaces import WorkspaceError, check_workspace_id

# The assets' names inside a workspace (the last part of their keys).
INVOICES = "qonto_supplier_invoices"
SCORED = "scored_matches"
DELIVERED = "delivered_bills"
REVIEW_QUEUE = "review_queue"
VENDORS = "melio_vendor_directory"
LEDGER = "melio_ledger"

# The tag on every run Well launches for a workspace (jobs and sensor requests): the run queue can limit runs per
# workspace, and a run says whose it is.
WORKSPACE_TAG = "well/workspace"
# The asset tag naming a stage (the group is the workspace): qonto, matching, delivery or melio.
STAGE_TAG = "well/stage"

@dataclass(frozen=True)
class WorkspaceNames:
    """The names of workspace `ws` (an id as `well_pipeline/workspaces.py` validates it)."""

    ws: str

    def __post_init__(self) -> None:
        # The workspace loader refuses bad ids with a message; this guards the names built from them, by the same rule.
        try:
            check_workspace_id(self.ws)
        except WorkspaceError as exc:
            raise ValueError(f"workspace id {self.ws!r} cannot name Dagster definitions: {exc}") from None

    # -- asset keys and group ----------------------------------------------------------------------------------
    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.ws, name])

    @property
    def invoices(self) -> dg.AssetKey:
        return self.key(INVOICES)

    @property
    def scored(self) -> dg.AssetKey:
        return self.key(SCORED)

    @property
    def delivered(self) -> dg.AssetKey:
        return self.key(DELIVERED)

    @property
    def review_queue(self) -> dg.AssetKey:
        return self.key(REVIEW_QUEUE)

    @property
    def vendors(self) -> dg.AssetKey:
        return self.key(VENDORS)

    @property
    def ledger(self) -> dg.AssetKey:
        return self.key(LEDGER)

    @property
    def group(self) -> str:
        return self.ws

    # -- nodes, jobs, sensors, pool, resources, tags -------------------------------------------------------------
    def op(self, name: str) -> str:
        """A node name (op, multi-asset, check): unique across workspaces, as the implicit asset job needs."""
        return f"{name}__{self.ws}"

    def resource(self, name: str) -> str:
        """A resource key scoped to this workspace's definitions (`storage__<ws>`...)."""
        return f"{name}__{self.ws}"

    @property
    def pipeline(self) -> str:
        return self.op("invoice_pipeline")

    @property
    def checks(self) -> str:
        return self.op("pipeline_checks")

    @property
    def sync_op(self) -> str:
        """The sync op: its name is the key of the window in the sync job's run config."""
        return self.op("qonto_sync")

    @property
    def deliver_op(self) -> str:
        return self.op("deliver_approved")

    @property
    def sync_job(self) -> str:
        return sync_job_name(self.ws)

    @property
    def deliver_job(self) -> str:
        return deliver_job_name(self.ws)

    @property
    def melio_job(self) -> str:
        return f"melio_exports_job__{self.ws}"

    @property
    def sync_sensor(self) -> str:
        return sensor_name(self.ws)

    @property
    def melio_sensor(self) -> str:
        return f"melio_exports_sensor__{self.ws}"

    @property
    def pool(self) -> str:
        """The concurrency pool of every step that writes this workspace's store (`pools.default_limit: 1`)."""
        return f"well__{self.ws}"

    @property
    def tags(self) -> dict[str, str]:
        return {WORKSPACE_TAG: self.ws}

    def stage_tags(self, stage: str) -> dict[str, str]:
        """An asset's tags: its stage (the group is the workspace, so the stage is a tag to filter on)."""
        return {STAGE_TAG: stage}
