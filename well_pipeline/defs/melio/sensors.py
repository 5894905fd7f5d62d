"""`melio_exports_sensor__<ws>`: reload a workspace's Melio side when an export file changes (by content, not
timestamp)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

from well_pipeline.defs.resources import MelioExportsResource
from well_pipeline.defs.workspace.names import WorkspaceNames


def _digest(path: Path) -> str | None:
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Every 5 minutes: exports change a few times a day at most, and each tick is a row in Dagster's storage (at 60 s,
# 1,440 skipped ticks a day were half of its daily growth; benchmarks/tick.py measures it).
MELIO_EXPORTS_CHECK_SECONDS = 300


def build_melio_exports(names: WorkspaceNames, exports: MelioExportsResource, assets: Sequence[dg.AssetsDefinition],
                        tags: Mapping[str, str]) -> tuple[dg.UnresolvedAssetJobDefinition, dg.SensorDefinition]:
    """The workspace's reload job (its two Melio assets; `tags`: the workspace tag and the max-runtime bound that
    ends a hung or orphaned reload, defs/runs/limits.py) and the sensor that launches it, watching the files the
    workspace's `melio_exports` resource reads (the same instance the assets get)."""
    # In process, as the sync jobs (defs/pipeline/jobs.py): two small steps gain nothing from a process each, and
    # the multiprocess default made a reload ~3 Python start-ups (~27 s for three workspaces' reloads on 2 cores).
    job = dg.define_asset_job(names.melio_job, selection=list(assets), tags=dict(tags),
                              executor_def=dg.in_process_executor)

    @dg.sensor(name=names.melio_sensor, job=job, minimum_interval_seconds=MELIO_EXPORTS_CHECK_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Reloads the Melio vendor directory and ledger when their CSV exports change.")
    def melio_exports_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_exports(context.cursor, exports)

    return job, melio_exports_sensor


def evaluate_exports(cursor: str | None, exports: MelioExportsResource) -> dg.SensorResult | dg.SkipReason:
    """One tick: a reload when the exports' contents changed since `cursor` (their digests)."""
    vendors, bills = exports.melio_vendors_path, exports.melio_bills_path
    digests = {"vendors": _digest(vendors), "bills": _digest(bills)}
    previous = json.loads(cursor) if cursor else {}
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
