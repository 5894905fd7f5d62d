"""The Qonto sync sensor: every 15 minutes (a setting), an incremental sync of today's partition.

The sensor itself touches neither Qonto nor DuckDB (a sensor must stay cheap, and DuckDB allows one writer):
it only launches a run. The run reads the sync marker, lists what changed since it, and moves the marker
after it succeeds, so a failed or skipped window is simply covered by the next one.
"""


from datetime import UTC, datetime

import dagster as dg

from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG, qonto_supplier_invoices
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.settings import load_settings

qonto_sync_job = dg.define_asset_job(
    "qonto_sync_job",
    selection=dg.AssetSelection.assets(qonto_supplier_invoices).downstream(),
    tags={SYNC_TAG: INCREMENTAL},
    description="Incremental Qonto sync (records updated since the last successful sync), then scoring and the "
    "review queue.",
)

_INTERVAL_S = load_settings().sync_interval_minutes * 60
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED]


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
        return dg.SkipReason(f"previous sync run {active[0].run_id} is still {active[0].status.value.lower()}")
    slot = int(now.timestamp()) // _INTERVAL_S * _INTERVAL_S
    slot_label = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%dT%H:%MZ")
    partition_key = qonto_daily_partitions.get_last_partition_key()
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"qonto-sync-{slot_label}", partition_key=partition_key)],
        cursor=slot_label,
    )
