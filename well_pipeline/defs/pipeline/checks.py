"""`pipeline_checks`: the seven asset checks of the three pipeline assets, declared once, runnable on their own.

The pipeline step (defs/pipeline/stages.py) evaluates each check right after the stage it checks and logs the
evaluation, so a failing blocking check stops what follows in that step. This definition is where Dagster learns
the checks exist (the asset's Checks tab, their history) and lets a person run them again from the UI at any time,
against the data as it is. Why not `check_specs` on the multi-asset: see defs/pipeline/assets.py.
"""

from collections.abc import Iterator

import dagster as dg

from well_pipeline.defs.pipeline.stages import PIPELINE_CHECKS
from well_pipeline.defs.resources import WellStorageResource


@dg.multi_asset_check(
    name="pipeline_checks",
    specs=[check.spec for check in PIPELINE_CHECKS],
    can_subset=True,
    pool="duckdb",
    description="The checks of qonto_supplier_invoices, scored_matches and delivered_bills on the stored data.",
)
def pipeline_checks(context: dg.AssetCheckExecutionContext,
                    storage: WellStorageResource) -> Iterator[dg.AssetCheckResult]:
    store = storage.storage()
    for check in PIPELINE_CHECKS:
        if check.key in context.selected_asset_check_keys:
            yield check.result(store)
