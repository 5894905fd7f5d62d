"""The definitions factory: every Dagster definition of one workspace, built from that workspace alone.

Why a factory (plan: one TOML file per workspace, docs/workspaces.md): one code location serves every company,
and a company is added by a file, not by code. `build_workspace` builds a workspace's 6 assets (the pipeline step's
three, the two Melio exports, `review_queue`), its 7 checks, 3 jobs and 2 sensors with its own names
(`names.py`), its own partitions (its `history_start`), its own pool and its own resource instances (scoped keys,
never top-level: `resources.py`). `shared_definitions` holds what serves the whole instance (the run health
sweep). Nothing here or below `defs/` builds a definition at import: `well_pipeline/definitions.py` calls these
each time Dagster loads the code location, so a new workspace file appears on the next load.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from well_pipeline.defs.matching.assets import build_review_queue
from well_pipeline.defs.melio.assets import build_melio_assets
from well_pipeline.defs.melio.sensors import build_melio_exports
from well_pipeline.defs.pipeline.assets import build_invoice_pipeline
from well_pipeline.defs.pipeline.checks import build_pipeline_checks
from well_pipeline.defs.pipeline.jobs import build_jobs
from well_pipeline.defs.qonto.partitions import daily_partitions, workspace_history_start
from well_pipeline.defs.qonto.sensors import build_sync_sensor
from well_pipeline.defs.runs.limits import max_runtime_tags
from well_pipeline.defs.runs.sensors import build_run_health_sensor
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources
from well_pipeline.services.history_window import HistoryStart
from well_pipeline.settings import Settings
from well_pipeline.workspaces import Workspace


@dataclass(frozen=True)
class WorkspaceBundle:
    """One workspace's definitions, each reachable by name (tests and benchmarks use them directly), and
    `definitions`, all of them as one `Definitions` to merge into the code location."""

    workspace: Workspace
    names: WorkspaceNames
    resources: WorkspaceResources
    history_start: HistoryStart
    partitions: dg.DailyPartitionsDefinition
    pipeline: dg.AssetsDefinition
    checks: dg.AssetChecksDefinition
    review_queue: dg.AssetsDefinition
    melio_assets: tuple[dg.AssetsDefinition, dg.AssetsDefinition]  # vendor directory, ledger
    sync_job: dg.JobDefinition
    deliver_job: dg.JobDefinition
    melio_job: dg.UnresolvedAssetJobDefinition
    sync_sensor: dg.SensorDefinition
    melio_sensor: dg.SensorDefinition
    definitions: dg.Definitions

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        """Every asset definition of the workspace (for `dg.materialize`: each carries its resources)."""
        return [self.pipeline, *self.melio_assets, self.review_queue]


def build_workspace(workspace: Workspace) -> WorkspaceBundle:
    """Every definition of `workspace`, named after its id; building validates its settings' resources."""
    settings = workspace.settings
    names = WorkspaceNames(workspace.id)
    res = WorkspaceResources.from_settings(settings)
    start = workspace_history_start(settings)
    partitions = daily_partitions(start.day)
    run_tags = {**max_runtime_tags(settings), **names.tags}

    pipeline = build_invoice_pipeline(names, partitions, res)
    checks = build_pipeline_checks(names, res)
    melio_assets = build_melio_assets(names, res)
    review_queue = build_review_queue(names, res)
    jobs = build_jobs(names, partitions, res, run_tags)
    melio_job, melio_sensor = build_melio_exports(names, res.melio_exports, melio_assets, run_tags)
    sync_sensor = build_sync_sensor(names, res, jobs, round(settings.sync_interval_minutes * 60))
    definitions = dg.Definitions(assets=[pipeline, *melio_assets, review_queue], asset_checks=[checks],
                                 jobs=[jobs.sync, jobs.deliver, melio_job], sensors=[sync_sensor, melio_sensor])
    return WorkspaceBundle(workspace=workspace, names=names, resources=res, history_start=start,
                           partitions=partitions, pipeline=pipeline, checks=checks, review_queue=review_queue,
                           melio_assets=melio_assets, sync_job=jobs.sync, deliver_job=jobs.deliver,
                           melio_job=melio_job, sync_sensor=sync_sensor, melio_sensor=melio_sensor,
                           definitions=definitions)


def shared_definitions(settings: Settings) -> dg.Definitions:
    """What serves the whole Dagster instance, once whatever the number of workspaces: the run health sweep
    (every `dead_run_check_seconds` of the deployment's settings)."""
    return dg.Definitions(sensors=[build_run_health_sensor(settings.dead_run_check_seconds)])
