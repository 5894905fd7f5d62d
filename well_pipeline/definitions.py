"""Well's code location: every asset, check, job, sensor and resource, wired in one place."""

from __future__ import annotations

import dagster as dg

from well_pipeline.defs.qonto.assets import qonto_supplier_invoices
from well_pipeline.defs.qonto.checks import qonto_checks
from well_pipeline.defs.qonto.sensors import qonto_sync_job, qonto_sync_sensor
from well_pipeline.defs.resources import build_resources

defs = dg.Definitions(
    assets=[qonto_supplier_invoices],
    asset_checks=qonto_checks,
    jobs=[qonto_sync_job],
    sensors=[qonto_sync_sensor],
    resources=build_resources(),
)
