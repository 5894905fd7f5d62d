"""Well's code location: every asset, check, job, sensor and resource, wired in one place."""

from __future__ import annotations

import dagster as dg

from well_pipeline.defs.delivery.assets import delivered_bills, delivery_checks
from well_pipeline.defs.matching.assets import review_queue, scored_matches
from well_pipeline.defs.matching.checks import matching_checks
from well_pipeline.defs.melio.assets import melio_ledger, melio_vendor_directory
from well_pipeline.defs.melio.sensors import melio_exports_job, melio_exports_sensor
from well_pipeline.defs.qonto.assets import qonto_supplier_invoices
from well_pipeline.defs.qonto.checks import qonto_checks
from well_pipeline.defs.qonto.sensors import qonto_sync_job, qonto_sync_sensor
from well_pipeline.defs.resources import build_resources
from well_pipeline.defs.runs.sensors import run_health_sensor

defs = dg.Definitions(
    assets=[qonto_supplier_invoices, melio_vendor_directory, melio_ledger, scored_matches, review_queue,
            delivered_bills],
    asset_checks=[*qonto_checks, *matching_checks, *delivery_checks],
    jobs=[qonto_sync_job, melio_exports_job],
    sensors=[qonto_sync_sensor, melio_exports_sensor, run_health_sensor],
    resources=build_resources(),
)
