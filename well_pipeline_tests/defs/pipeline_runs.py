"""Run the pipeline step the ways Dagster does, and read what a run recorded.

- `materialize_range`: the workspace's `invoice_pipeline__main` multi-asset over a partition range in one run, with the
  `dagster/asset_partition_range_start|end` tags the UI's single-run backfill sets; `assets` picks the subset
  (the UI's asset selection; each selected asset's checks come with it).
- `sync`: `qonto_sync_job__main` with a window in run config (none: DuckDB's marker minus the overlap, up to now).
- `deliver_approved`: `deliver_approved_job__main`.
Each takes the definitions of `env.ws` (another `bundle`: the same workspace with other settings).

What a run records (defs/pipeline/stages.py): one materialisation per day holding rows, with that day's counts
(`day_metadata`), one observation per stage with the run's own figures (`summary`), check evaluations, and on a
run that sets the sync marker an observation of `qonto_supplier_invoices` with `sync_marker` (`marker_report`).
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from well_pipeline.defs.pipeline.stages import SYNC_MARKER_KEY
from well_pipeline.defs.workspace.factory import WorkspaceBundle
from well_pipeline_tests.defs.conftest import WellEnv
from well_pipeline_tests.support.workspace_defs import DELIVERED_BILLS, QONTO_SUPPLIER_INVOICES, SCORED_MATCHES

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PIPELINE_KEYS = (QONTO_SUPPLIER_INVOICES, SCORED_MATCHES, DELIVERED_BILLS)

Result = dg.ExecuteInProcessResult


def materialize_range(env: WellEnv, instance: dg.DagsterInstance, first: str, last: str, *,
                      assets: Iterable[dg.AssetKey] = PIPELINE_KEYS, bundle: WorkspaceBundle | None = None,
                      tags: dict[str, str] | None = None) -> Result:
    """One run of the pipeline step over the partitions [first, last], as the UI backfills a range (`tags`: more
    run tags, as the launchpad adds them)."""
    return dg.materialize([(bundle or env.ws).pipeline], selection=list(assets),
                          instance=instance, tags={RANGE_START: first, RANGE_END: last, **(tags or {})},
                          raise_on_error=False)


def sync(env: WellEnv, instance: dg.DagsterInstance, *, updated_from: str | None = None,
         updated_to: str | None = None, bundle: WorkspaceBundle | None = None) -> Result:
    """One sync job run, as the sync sensor launches it (in process, against `instance`)."""
    bundle = bundle or env.ws
    config = {"ops": {bundle.names.sync_op: {"config": {"updated_from": updated_from, "updated_to": updated_to}}}}
    return bundle.sync_job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)


def deliver_approved(env: WellEnv, instance: dg.DagsterInstance) -> Result:
    return env.ws.deliver_job.execute_in_process(instance=instance, raise_on_error=False)


def values(metadata: dict) -> dict:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def day_metadata(result: Result, key: dg.AssetKey) -> dict[str, dict]:
    """partition key → that day's materialisation metadata, for `key` in this run."""
    days: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == key:
            assert materialization.partition is not None, "a pipeline materialisation is always one day's"
            days[materialization.partition] = values(materialization.metadata)
    return days


def observations(result: Result, key: dg.AssetKey) -> list[dict]:
    return [values(e.asset_observation_data.asset_observation.metadata) for e in result.get_asset_observation_events()
            if e.asset_observation_data.asset_observation.asset_key == key]


def summary(result: Result, key: dg.AssetKey) -> dict:
    """The stage's run summary: the observation of `key` that is not a marker report (exactly one per stage)."""
    (found,) = [o for o in observations(result, key) if SYNC_MARKER_KEY not in o]
    return found


def marker_report(result: Result) -> str | None:
    """The sync marker this run reported (None: it set none)."""
    reports = [o[SYNC_MARKER_KEY] for o in observations(result, QONTO_SUPPLIER_INVOICES) if SYNC_MARKER_KEY in o]
    assert len(reports) <= 1, reports
    return reports[0] if reports else None


def checks(result: Result) -> dict[str, bool]:
    """check name → passed, for the checks this run evaluated."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def checks_logged(instance: dg.DagsterInstance, result: Result) -> dict[str, bool]:
    """Like `checks`, read from the instance's event log: a step that raised after logging evaluations (a failed
    blocking check) has them there, not in the in-process result."""
    found = {}
    for entry in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        found[evaluation.check_name] = evaluation.passed
    return found
