"""The Qonto sync sensor: every 15 minutes (a setting), an incremental sync of today's partition.

The sensor itself touches neither Qonto nor DuckDB (a sensor must stay cheap, and DuckDB allows one writer):
it only launches a run. The run reads the sync marker, lists what changed since it, and moves the marker
after it succeeds, so a failed or skipped window is simply covered by the next one.

While a previous sync run is active the sensor skips, and says why: a started run whose processes are all gone
(kill -9, OOM, reboot) is failed on the spot and its DuckDB slot freed (the same sweep as `run_health_sensor`,
so syncing heals even with that sensor off), and a run that waits names the run holding the DuckDB pool.
"""


from datetime import UTC, datetime

import dagster as dg

from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG, qonto_supplier_invoices
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.defs.runs.health import claimed_slots_by_run, sweep_started_runs
from well_pipeline.defs.runs.limits import max_runtime_tags
from well_pipeline.settings import code_location_settings

qonto_sync_job = dg.define_asset_job(
    "qonto_sync_job",
    selection=dg.AssetSelection.assets(qonto_supplier_invoices).downstream(),
    tags={SYNC_TAG: INCREMENTAL, **max_runtime_tags()},
    description="Incremental Qonto sync (records updated since the last successful sync), then scoring and the "
    "review queue.",
)

_INTERVAL_S = code_location_settings().sync_interval_minutes * 60
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED]
_POOL = "duckdb"  # the pool of every asset and check that writes the DuckDB file


@dg.sensor(
    job=qonto_sync_job,
    minimum_interval_seconds=_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls Qonto for new and changed supplier invoices on the sync interval.",
)
def qonto_sync_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    now = datetime.now(UTC)
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=qonto_sync_job.name, statuses=_ACTIVE), limit=1
    )
    if active:
        return dg.SkipReason(_skip_reason(context.instance, active[0]))
    slot = int(now.timestamp()) // _INTERVAL_S * _INTERVAL_S
    slot_label = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%dT%H:%MZ")
    partition_key = qonto_daily_partitions.get_last_partition_key()
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"qonto-sync-{slot_label}", partition_key=partition_key)],
        cursor=slot_label,
    )


def _skip_reason(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Why this tick launches nothing; a dead started run is failed (and its slot freed) on the way."""
    label = f"previous sync run {run.run_id}"
    if run.status == dg.DagsterRunStatus.STARTED:
        report = sweep_started_runs(instance, [run])
        if report.failed:
            return f"{label} had lost its worker: {report.failed[0].describe()}. Syncing resumes on the next tick."
        if report.checked:
            return f"{label} is still started ({report.checked[0].describe()}){_pool_note(instance, run.run_id)}"
    return f"{label} is still {run.status.value.lower()}{_pool_note(instance, run.run_id)}"


def _pool_note(instance: dg.DagsterInstance, run_id: str) -> str:
    """Which other runs hold the DuckDB pool (the usual reason a sync waits), or nothing."""
    holders = sorted(r for r in claimed_slots_by_run(instance, _POOL) if r != run_id)
    return f"; waiting for pool {_POOL!r}, held by run {', '.join(holders)}" if holders else ""
