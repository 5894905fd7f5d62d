"""`melio_exports_sensor`: reload the Melio side when an export file changes (by content, not timestamp)."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from well_pipeline.defs.melio.assets import melio_ledger, melio_vendor_directory
from well_pipeline.defs.resources import MelioExportsResource
from well_pipeline.defs.runs.limits import max_runtime_tags

# The max-runtime tag bounds a hung or orphaned reload (see defs/runs/limits.py).
melio_exports_job = dg.define_asset_job("melio_exports_job", selection=[melio_vendor_directory, melio_ledger],
                                        tags=max_runtime_tags())


def _digest(path: Path) -> str | None:
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Every 5 minutes: exports change a few times a day at most, and each tick is a row in Dagster's storage (at 60 s,
# 1,440 skipped ticks a day were half of its daily growth; benchmarks/tick.py measures it).
MELIO_EXPORTS_CHECK_SECONDS = 300


@dg.sensor(job=melio_exports_job, minimum_interval_seconds=MELIO_EXPORTS_CHECK_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reloads the Melio vendor directory and ledger when their CSV exports change.")
def melio_exports_sensor(context: dg.SensorEvaluationContext,
                         melio_exports: MelioExportsResource) -> dg.SensorResult | dg.SkipReason:
    # The files the `melio_exports` resource reads, so the sensor watches what the assets will load.
    vendors, bills = melio_exports.melio_vendors_path, melio_exports.melio_bills_path
    digests = {"vendors": _digest(vendors), "bills": _digest(bills)}
    previous = json.loads(context.cursor) if context.cursor else {}
    if digests == previous:
        return dg.SkipReason("Melio exports unchanged")
    if not any(digests.values()):
        return dg.SkipReason(f"no Melio exports yet at {vendors} / {bills}: export the vendor directory and the bills "
                             "from Melio as CSV and put them there (or point the settings melio_vendors_csv and "
                             "melio_bills_csv at them); the Qonto sync waits for their first load")
    changed = sorted(k for k in digests if digests[k] != previous.get(k))
    run_key = "melio-" + hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key, tags={"well/changed": ",".join(changed)})],
                           cursor=json.dumps(digests, sort_keys=True))
