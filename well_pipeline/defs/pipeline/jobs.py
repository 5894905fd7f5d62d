"""`qonto_sync_job__<ws>` and `deliver_approved_job__<ws>`: a workspace's pipeline step as unpartitioned op
jobs, in process.

Why op jobs: a sync covers a window of Qonto updates, not a partition range; an asset job over the partitioned
multi-asset would need a partition (and a range run logs one planned event per partition per asset: 1,097 × 3 for
three years). The op runs the same step (defs/pipeline/stages.py) and reports per-day materialisations of the three
assets for exactly the days it rewrote, then refreshes `review_queue`. Why the in-process executor: a run is one
step, so a subprocess per step only adds its start-up (issue 10 measured 32-40 s for an empty sync with the
multiprocess executor, 4.3 s in process).

Run config of `qonto_sync_job__<ws>` (the sync sensor fills it; docs/CONTRACTS.md "Sync: sensor, jobs, cursor"):
    {"ops": {"qonto_sync__<ws>": {"config": {"updated_from": "2026-03-14T09:20:00+00:00" | null,
                                       "updated_to": "2026-03-14T09:45:00+00:00" | null}}}}
An empty window (launched by hand) runs from DuckDB's copy of the marker minus the overlap, up to now.
"""


from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.matching.assets import refreshed_review_queue
from well_pipeline.defs.pipeline.stages import Collaborators, PipelineStep, Selection
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources
from well_pipeline.services.pipeline import RunScope
from well_pipeline.services.qonto_ingest import IngestWindow
from well_pipeline.services.sync_marker import incremental_window


class SyncWindow(dg.Config):
    """The Qonto window a sync lists: records updated in [updated_from, updated_to) (ISO 8601 with an offset)."""

    updated_from: str | None = Field(default=None, description="Start (the sync marker minus the overlap); empty: "
                                     "DuckDB's copy of the marker minus sync_overlap_minutes, or everything.")
    updated_to: str | None = Field(default=None, description="End (the probe's time); empty: now.")

    def window(self, store: Storage, overlap_minutes: int) -> IngestWindow:
        now = datetime.now(UTC).replace(microsecond=0)
        if self.updated_from is None and self.updated_to is None:
            return incremental_window(store.invoices, overlap_minutes, now)
        return IngestWindow(updated_from=_moment(self.updated_from, "updated_from"),
                            updated_to=_moment(self.updated_to, "updated_to") or now)


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise dg.Failure(f"run config {name}={value!r:.60} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise dg.Failure(f"run config {name}={value!r:.60} has no timezone: add Z or an offset")
    return moment.astimezone(UTC)


def _refresh_review_queue(context: dg.OpExecutionContext, store: Storage, names: WorkspaceNames) -> None:
    """The workspace's `review_queue` computed again after the run, so it reflects the run and decisions made
    before it; written only when it changed (see `refreshed_review_queue`)."""
    latest = context.instance.get_latest_materialization_event(names.review_queue)
    previous = latest.asset_materialization if latest is not None else None
    refreshed = refreshed_review_queue(store, previous, names.review_queue)
    if refreshed is None:
        context.log.info("review_queue unchanged since its last materialisation: not written again")
        return
    context.log_event(refreshed)


@dataclass(frozen=True)
class SyncJobs:
    """The workspace's two op jobs the sync sensor launches."""

    sync: dg.JobDefinition
    deliver: dg.JobDefinition


_STEP_RESOURCES = ("qonto", "storage", "scoring", "melio_delivery")


def build_jobs(names: WorkspaceNames, partitions: dg.DailyPartitionsDefinition, res: WorkspaceResources,
               tags: Mapping[str, str]) -> SyncJobs:
    """The workspace's sync and "deliver approved now" jobs, with its resources (scoped keys) and `tags` (the
    workspace tag and the max-runtime bound: defs/runs/limits.py) on every run."""
    required = {names.resource(name) for name in _STEP_RESOURCES}

    @dg.op(name=names.sync_op, pool=names.pool, required_resource_keys=required,
           description="List the window from Qonto, score the days it touched and every stale day, deliver them and "
                       "every day with something to send; report each rewritten day.")
    def qonto_sync(context: dg.OpExecutionContext, config: SyncWindow) -> None:
        res = Collaborators.of(context, names)
        store = res.storage.storage()
        window = config.window(store, res.qonto.sync_overlap_minutes)
        step = PipelineStep(context, RunScope.sync(window), Selection(), res, partitions=partitions, names=names)
        step.run()
        _refresh_review_queue(context, step.store, names)

    @dg.op(name=names.deliver_op, pool=names.pool, required_resource_keys=required,
           description="Deliver every record waiting for delivery (approved, pinned, approved for a re-send, left by "
                       "a quota pause), whatever its day; report each day.")
    def deliver_approved(context: dg.OpExecutionContext) -> None:
        step = PipelineStep(context, RunScope.approved(), Selection(ingest=False, score=False),
                            Collaborators.of(context, names), partitions=partitions, names=names)
        step.run()
        _refresh_review_queue(context, step.store, names)

    @dg.job(name=names.sync_job, executor_def=dg.in_process_executor, tags=dict(tags),
            resource_defs=res.scoped(names, *_STEP_RESOURCES),
            description="Incremental Qonto sync of a window (the sync sensor passes it): ingest, score the touched "
                        "days, deliver, refresh the review queue. One in-process step.")
    def qonto_sync_job() -> None:
        qonto_sync()

    @dg.job(name=names.deliver_job, executor_def=dg.in_process_executor, tags=dict(tags),
            resource_defs=res.scoped(names, *_STEP_RESOURCES),
            description="Deliver approved now: every approved or pinned record and approved re-send, whatever its "
                        "day; then refresh the review queue. Launched by the sync sensor when approvals wait and "
                        "Qonto has no change, or from the UI.")
    def deliver_approved_job() -> None:
        deliver_approved()

    return SyncJobs(qonto_sync_job, deliver_approved_job)
